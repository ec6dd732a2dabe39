"""An S3-API server for tests: moto's server mode on 127.0.0.1, on a free port, once per session (as
inspect_ai's own tests run it). The session's AWS_* variables point boto3, s3fs and inspect_ai at it
with test credentials. `s3_server` is the server; `s3_log_dir` a fresh bucket per test, as the
`s3://bucket/logs` URL a user would set as HIBAYES_LOG_DIR. When moto is not installed or its server
does not answer, the tests that use it skip and say why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest

INSTALL_HINT = "install the dev dependency group (`uv sync`, which brings moto[server])"
START_SECONDS = 10
_buckets = count(1)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    start_seconds: float  # the server's start, as measured by the fixture

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint)

    def upload(self, path: Path, url: str) -> str:
        """Put a local file at `s3://bucket/key`; the URL back."""
        bucket, key = url.removeprefix("s3://").split("/", 1)
        self.client().upload_file(str(path), bucket, key)
        return url

    def delete(self, url: str) -> None:
        bucket, key = url.removeprefix("s3://").split("/", 1)
        self.client().delete_object(Bucket=bucket, Key=key)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as err:
        pytest.skip(f"moto's server mode is not installed ({err}): {INSTALL_HINT}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    started = time.perf_counter()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        host, port = server.get_host_and_port()
    except Exception as err:  # whatever stops the server from starting: the tests cannot run
        pytest.skip(f"moto's S3 server did not start on 127.0.0.1 ({type(err).__name__}: {err})")
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", endpoint)  # boto3's and s3fs's (aiobotocore's) endpoint
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        s3 = S3Server(endpoint, 0.0)
        if not _answers(s3):
            server.stop()
            pytest.skip(f"moto's S3 server on {endpoint} did not answer within {START_SECONDS} s")
        try:
            yield S3Server(endpoint, time.perf_counter() - started)
        finally:
            server.stop()


def _answers(s3: S3Server) -> bool:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            s3.client().list_buckets()
            return True
        except Exception:  # not up yet
            time.sleep(0.1)
    return False


@pytest.fixture
def s3_log_dir(s3_server: S3Server) -> str:
    """A new, empty bucket; the URL of a log dir in it."""
    bucket = f"hibayes-logs-{next(_buckets)}"
    s3_server.client().create_bucket(Bucket=bucket)
    return f"s3://{bucket}/logs"
