"""Real servers private to the test run: a PostgreSQL cluster and a Redis server.

Each is started once per test session, on a free port of 127.0.0.1, in a temporary
directory of its own, and stopped (and its directory removed) at the end. Nothing
else on the machine is touched: no system cluster, no Unix socket, no default port.

When a server's programs are missing, the tests that need it are skipped with the
apt package to install; with CI=true they fail instead, since CI must run them all.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

HOST = "127.0.0.1"
START_SECONDS = 30.0
STOP_SECONDS = 10.0
# The server's own time zone is not UTC, as on a municipality's server: code that lets
# the database pick "now" or convert times shows it here, not in production.
POSTGRES_TIMEZONE = "Europe/Sofia"
# Speed over durability: a crash loses the cluster, which is thrown away anyway.
POSTGRES_SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "checkpoint_timeout": "1h",
    "max_wal_size": "1GB",
    "max_connections": "200",
    "timezone": POSTGRES_TIMEZONE,
    "log_min_messages": "warning",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the test needing a server, or fail it in CI, where every test must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run installs it; nothing may be skipped)", False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_SECONDS)


def _dies_with_us(command: list[str], sig: str) -> list[str]:
    """`command`, sent `sig` by the kernel should this test run be killed outright (no
    teardown): util-linux's setpriv sets the parent-death signal, where it exists."""
    setpriv = shutil.which("setpriv")
    return [setpriv, f"--pdeathsig={sig}", "--", *command] if setpriv else command


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes]) -> bool:
    """Poll `ready` (briefly) until it holds; False if the process exits first."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if ready():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path | None:
    """Where initdb and postgres are: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path and (Path(on_path).resolve().parent / "postgres").exists():
        return Path(on_path).resolve().parent
    versions = sorted(
        (path for path in Path("/usr/lib/postgresql").glob("*/bin") if path.parent.name.isdigit()),
        key=lambda path: int(path.parent.name),
    )
    for bindir in reversed(versions):
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    return None


@dataclass
class PostgresServer:
    """A running cluster: trust authentication on 127.0.0.1 for the user `postgres`."""

    port: int
    version: str
    user: str = "postgres"
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="postgres-admin"),
        repr=False,
    )

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{HOST}:{self.port}/{database}"

    def create_database(self, template: str = "template1") -> str:
        """A new empty database (a copy of `template`); its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        # FORCE: a test that did not dispose of its engine still holds connections.
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Run statements outside a transaction (as CREATE DATABASE needs).

        Usable from plain and from async code: the client runs in a thread with its
        own event loop, so it never touches the loop of the test calling it.
        """
        self._worker.submit(asyncio.run, self._execute(database, statements)).result()

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    async def _execute(self, database: str, statements: tuple[str, ...]) -> None:
        import asyncpg

        connection = await asyncpg.connect(
            host=HOST, port=self.port, user=self.user, database=database, timeout=10
        )
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    def accepts_connections(self) -> bool:
        try:
            self.execute("SELECT 1")
        except Exception:  # refused, or "the database system is starting up"
            return False
        return True


def _as_postgres_user() -> dict[str, object]:
    """PostgreSQL refuses to run as root: then run it as the `postgres` system user."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        unavailable(
            "tests run as root and there is no `postgres` system user to run PostgreSQL "
            "as (apt-get install postgresql creates it)"
        )
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _start_postgres(
    bindir: Path, data: Path, log: Path, identity: dict[str, object]
) -> tuple[subprocess.Popen[bytes], PostgresServer]:
    version = (data / "PG_VERSION").read_text().strip()
    options = [f"--{name}={value}" for name, value in POSTGRES_SETTINGS.items()]
    for _attempt in range(3):  # a free port may be taken before the server binds it
        port = free_port()
        with log.open("ab") as log_file:
            process = subprocess.Popen(
                _dies_with_us(
                    [str(bindir / "postgres"), "-D", str(data), "-p", str(port), *options],
                    "INT",  # fast shutdown
                ),
                cwd=data.parent, env={**os.environ, "LC_ALL": "C"}, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                **identity,  # type: ignore[arg-type]
            )  # fmt: skip
        server = PostgresServer(port=port, version=version)
        if _wait_until(server.accepts_connections, process):
            return process, server
        server.close()
        _stop(process, signal.SIGQUIT)
        if "could not bind" not in _log_tail(log):
            break
    pytest.fail(f"PostgreSQL did not start; its log:\n{_log_tail(log)}", False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster for this test session."""
    bindir = postgres_bindir()
    if bindir is None:
        unavailable("PostgreSQL is not installed: apt-get install postgresql")
    identity = _as_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="civicbot-postgres-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        if identity:
            os.chown(root, int(identity["user"]), int(identity["group"]))  # type: ignore[call-overload]
        data, log = root / "data", root / "postgres.log"
        initdb = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--no-locale", "--encoding=UTF8", "--no-sync", "--no-instructions"],
            cwd=root, env={**os.environ, "LC_ALL": "C"}, capture_output=True, text=True,
            timeout=120, check=False, **identity,  # type: ignore[arg-type]
        )  # fmt: skip
        if initdb.returncode != 0:
            pytest.fail(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}", False)
        # Only TCP from 127.0.0.1, without a password; nothing else.
        (data / "pg_hba.conf").write_text(f"host all all {HOST}/32 trust\n")
        process, server = _start_postgres(bindir, data, log, identity)
        try:
            yield server
        finally:
            server.close()
    finally:
        if process is not None:
            _stop(process, signal.SIGINT)  # fast shutdown
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- Redis


def _redis_command(port: int, *words: str) -> bytes:
    """One command in RESP over a plain socket: enough for PING and FLUSHALL."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    with socket.create_connection((HOST, port), timeout=5) as connection:
        connection.sendall(request.encode())
        return connection.recv(4096)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A fresh Redis server for this test session, without persistence: its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("Redis is not installed: apt-get install redis-server")
    root = Path(tempfile.mkdtemp(prefix="civicbot-redis-"))
    log = root / "redis.log"
    process: subprocess.Popen[bytes] | None = None

    def answers(port: int) -> Callable[[], bool]:
        def ping() -> bool:
            try:
                return _redis_command(port, "PING").startswith(b"+PONG")
            except OSError:
                return False

        return ping

    try:
        for _attempt in range(3):
            port = free_port()
            with log.open("ab") as log_file:
                process = subprocess.Popen(
                    _dies_with_us(
                        [binary, "--port", str(port), "--bind", HOST, "--save", "",
                         "--appendonly", "no", "--dir", str(root), "--daemonize", "no",
                         "--protected-mode", "yes", "--loglevel", "warning"],
                        "TERM",
                    ),
                    cwd=root, stdin=subprocess.DEVNULL, stdout=log_file,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            if _wait_until(answers(port), process):
                break
            _stop(process, signal.SIGKILL)
        if process is None or process.poll() is not None:
            pytest.fail(f"Redis did not start; its log:\n{_log_tail(log)}", False)
        yield f"redis://{HOST}:{port}/0"
    finally:
        if process is not None:
            _stop(process, signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clean_redis_url(redis_url: str) -> str:
    """The session's Redis, emptied of what earlier tests left: its URL."""
    port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    answer = _redis_command(port, "FLUSHALL")
    assert answer.startswith(b"+OK"), answer
    return redis_url


__all__ = [
    "PostgresServer",
    "clean_redis_url",
    "postgres_server",
    "redis_url",
    "unavailable",
]
