"""`make ui`: the Dagster webserver and daemon (`dagster dev`) on the first free port from 3000 up.

    python -m hibayes_assets.ui [--host 127.0.0.1] [--port 3000]

`dagster dev` on a port in use prints "Serving on ..." and then "address already in use", and its
daemon keeps running without a UI; so the port is tried first: a busy one is skipped, saying so, and
when none of the next few is free this exits 1 saying which were tried. It sets up the instance
folder and example inputs as `make demo` does, then becomes `dagster dev` (Ctrl-C stops both). (A
server that takes the port between the test and `dagster dev`'s start still wins: rare, and then
`dagster dev` says so as before.)
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
PORTS_TRIED = 20


class NoFreePort(Exception):
    pass


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on `host:port` now. The probe binds as the webserver (uvicorn)
    does, with SO_REUSEADDR: a port that only lingers after an earlier server closed counts as
    free, one something listens on does not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = DEFAULT_HOST, start: int = DEFAULT_PORT, tries: int | None = None) -> int:
    """The first port from `start` on that is free on `host` (of `tries`, PORTS_TRIED by default)."""
    tries = PORTS_TRIED if tries is None else tries
    for port in range(start, min(start + tries, 65536)):
        if port_free(host, port):
            return port
    raise NoFreePort(
        f"no free port on {host} from {start} to {min(start + tries, 65536) - 1}: stop what listens there "
        f"(e.g. an earlier `make ui`; `lsof -i :{start}` names it) or choose another with --port"
    )


def dagster_dev_command(host: str, port: int) -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster) if dagster.exists() else "dagster", "dev", "-w", "workspace.yaml", "-h", host, "-p", str(port)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hibayes_assets.ui", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"the address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=int(os.environ.get("HIBAYES_UI_PORT", DEFAULT_PORT)),
                        help=f"the first port to try (default {DEFAULT_PORT}, or HIBAYES_UI_PORT)")
    args = parser.parse_args(argv)
    try:
        port = free_port(args.host, args.port)
    except NoFreePort as err:
        print(f"make ui: {err}", file=sys.stderr)
        return 1
    if port != args.port:
        print(f"port {args.port} is in use on {args.host}: using {port}", flush=True)
    start_dagster_dev(args.host, port)
    return 0


def start_dagster_dev(host: str, port: int) -> None:
    """Set up the instance folder and example inputs (as `make demo` does), then become `dagster dev`:
    its output, its Ctrl-C."""
    from hibayes.settings import load_settings
    from hibayes_assets.demo import prepare

    prepare(load_settings())
    print(f"Dagster UI on http://{host}:{port} (Ctrl-C stops the webserver and the daemon)", flush=True)
    command = dagster_dev_command(host, port)
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
