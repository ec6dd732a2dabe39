"""A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, a cluster in a temporary
folder, listening on 127.0.0.1 only, trust authentication, stopped and deleted at the end of the
session. `postgres_server` is the server (one per session); `postgres_database` a fresh database on
it per test. Without the binaries, or when the server cannot start, the tests that use it skip and
say what to install.

PostgreSQL refuses to run as root: as root the cluster belongs to, and the server runs as, the
`postgres` user the Debian package creates (else `nobody`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import psycopg2
import pytest

INSTALL_HINT = "install Debian's `postgresql` package (`apt-get install postgresql`, which `make setup` does as root)"
SUPERUSER = "hibayes"
START_SECONDS = 30
# A server that lives for one test session: durability after a crash of the machine is not wanted,
# and skipping the disk flushes makes its start and its writes faster.
THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_database_numbers = count(1)


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    start_seconds: float  # initdb + pg_ctl start, as measured by the fixture

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        connection = psycopg2.connect(self.url())
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()


def server_binaries() -> tuple[Path, Path] | None:
    """`initdb` and `pg_ctl`: on PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian's
    package puts them there and not on PATH)."""
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(on_path):
        return Path(on_path[0]), Path(on_path[1])
    versions = sorted(
        (folder for folder in Path("/usr/lib/postgresql").glob("*/bin") if (folder / "initdb").exists()),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
    )
    return (versions[-1] / "initdb", versions[-1] / "pg_ctl") if versions else None


def server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: None for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_as(user: pwd.struct_passwd | None, command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=START_SECONDS + 10,
        env={**os.environ, "LC_ALL": "C"}, **as_user,
    )


def _failure(step: str, result: subprocess.CompletedProcess, log: Path | None = None) -> str:
    output = (result.stdout + result.stderr).strip()
    if log is not None and log.exists():
        output += "\n" + log.read_text(errors="replace").strip()
    return f"the throwaway PostgreSQL server could not start ({step} exited {result.returncode}): {output[-800:]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(f"PostgreSQL server binaries (initdb, pg_ctl) not on PATH nor in /usr/lib/postgresql/*/bin: {INSTALL_HINT}")
    initdb, pg_ctl = binaries
    user = server_user()
    if os.geteuid() == 0 and user is None:
        pytest.skip("PostgreSQL will not run as root and there is no `postgres` or `nobody` user to run it as")
    root = Path(tempfile.mkdtemp(prefix="hibayes-pg-"))
    data, log = root / "data", root / "server.log"
    if user:
        os.chown(root, user.pw_uid, user.pw_gid)
    started, running = time.perf_counter(), None
    try:
        created = _run_as(user, [str(initdb), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8"], root)
        if created.returncode != 0:
            pytest.skip(_failure("initdb", created))
        port = free_port()
        options = " ".join([f"-p {port}", "-c listen_addresses=127.0.0.1", f"-k {root}", *(f"-c {s}" for s in THROWAWAY_SETTINGS)])
        running = _run_as(user, [str(pg_ctl), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", str(START_SECONDS), "start"], root)
        if running.returncode != 0:
            pytest.skip(_failure("pg_ctl start", running, log))
        yield PostgresServer("127.0.0.1", port, SUPERUSER, time.perf_counter() - started)
    finally:
        if running is not None and running.returncode == 0:
            _run_as(user, [str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"], root)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class PostgresDatabase:
    server: PostgresServer
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> PostgresDatabase:
    """A new, empty database on the session's server."""
    name = f"test_{next(_database_numbers)}"
    postgres_server.create_database(name)
    return PostgresDatabase(postgres_server, name)
