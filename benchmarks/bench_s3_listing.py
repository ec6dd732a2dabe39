"""What one look at an S3 log dir costs the log sensor: a full listing of N objects against the
listing that resumes after the last timestamp-named key (`hibayes.load.log_locations.list_since`),
with nothing new and with one new log. Against moto's S3 server on 127.0.0.1 (no network, so the
times are the server's and the client's work, not a real bucket's latency); the ListObjectsV2
requests are counted from the server's request log. Nothing is asserted.

    .venv/bin/python benchmarks/bench_s3_listing.py --objects 3000
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's `hibayes`, not an installed one
    sys.path.insert(0, str(ROOT))


class _ListRequests(logging.Handler):
    """Counts the ListObjectsV2 requests werkzeug logs (`GET /bucket?list-type=2...`)."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "list-type=2" in record.getMessage():
            self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://{host}:{port}")
    counter = _ListRequests()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    werkzeug.handlers = [counter]

    import boto3

    from hibayes.load.log_locations import ListingCursor, list_since

    client = boto3.client("s3")
    client.create_bucket(Bucket="bench")
    names = [f"2026-11-{1 + i // 1000:02d}T00-00-{i % 1000:03d}_task_{i:06d}.eval" for i in range(args.objects)]
    for name in names:
        client.put_object(Bucket="bench", Key=f"logs/{name}", Body=b"x")
    url = "s3://bench/logs"

    def measure(cursor: ListingCursor, now: float) -> tuple[float, int, int]:
        seconds, requests = [], 0
        for _ in range(args.repeats):
            before = counter.count
            started = time.perf_counter()
            look = list_since(url, cursor, now=now, relist_seconds=60)
            seconds.append(time.perf_counter() - started)
            requests = counter.count - before
        return statistics.median(seconds), requests, len(look.scan.found)

    full = measure(ListingCursor(), now=0.0)
    resumed = list_since(url, ListingCursor(), now=0.0, relist_seconds=60).cursor
    nothing_new = measure(resumed, now=1.0)
    client.put_object(Bucket="bench", Key="logs/2026-12-31T00-00-00_task_new.eval", Body=b"x")
    one_new = measure(resumed, now=1.0)
    server.stop()

    print(f"{args.objects} objects under s3://bench/logs (moto on 127.0.0.1), median of {args.repeats}")
    print(f"{'look':<32}{'seconds':>10}{'ListObjectsV2':>15}{'keys listed':>13}")
    for label, (seconds, requests, keys) in (("full listing", full), ("resumed, nothing new", nothing_new), ("resumed, one new log", one_new)):
        print(f"{label:<32}{seconds:>10.4f}{requests:>15}{keys:>13}")
    print(f"ratio full / resumed (nothing new): {full[0] / nothing_new[0]:.1f}")


if __name__ == "__main__":
    main()
