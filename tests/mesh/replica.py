"""A streaming replica of the core's PostgreSQL in a region: pg_basebackup, then streaming replication.

Built with the binaries the embedded server ships (cerebro/embedded.py). The base backup is taken over
loopback (it is a one-off copy, not what is measured); the replica then runs inside the region's
namespace and streams WAL from the primary through the region's link, so replication pays the link's
latency and stops when the link is cut, as a replica in another region would.

It listens on the namespace's loopback (where the region's services reach it) and on the namespace's
address (where the test observes it), on the primary's port number: each namespace has its own ports.
Like the primary it runs as the account the embedded server uses under root, and asks for a password.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from cerebro.embedded import POSTGRES_OS_USER_WHEN_ROOT, POSTGRES_SUPERUSER, postgres_bin_dir
from tests.mesh.netns import Namespace

LOOPBACK = "127.0.0.1"
START_SECONDS = 60
# pg_basebackup's default --checkpoint=spread would wait for the primary's next timed checkpoint.
BASEBACKUP_ARGS = ["--checkpoint=fast", "--wal-method=stream", "--no-sync"]


def with_host(url: str, host: str) -> str:
    """``url`` with its host replaced (credentials, port and database kept)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}:{parts.port}"))


def _as_postgres_account() -> list[str]:
    """The prefix that drops root for the embedded server's account (PostgreSQL refuses to run as root)."""
    user = POSTGRES_OS_USER_WHEN_ROOT
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]


@dataclass
class StreamingReplica:
    """The replica of the primary at ``primary_url`` (as the root namespace reaches it) in ``region``,
    streaming from ``primary_host`` (the region's link address)."""

    region: str
    namespace: Namespace
    primary_url: str
    primary_host: str
    directory: Path

    @property
    def pgdata(self) -> Path:
        return self.directory / "pgdata"

    @property
    def application_name(self) -> str:
        """The name the primary sees this standby under (pg_stat_replication, synchronous_standby_names)."""
        return f"replica_{self.region}"

    @property
    def port(self) -> int:
        port = urlsplit(self.primary_url).port
        assert port is not None
        return port

    def url(self, *, observer: bool = False) -> str:
        """The primary's URL pointed at this replica: from inside the region, or from the test (``observer``)."""
        return with_host(self.primary_url, self.namespace.address if observer else LOOPBACK)

    # -- lifecycle ---------------------------------------------------------------------------

    def create(self) -> None:
        """Take the base backup and configure streaming from the primary through the region's link."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, mode=0o700)
        shutil.chown(self.directory, POSTGRES_OS_USER_WHEN_ROOT, POSTGRES_OS_USER_WHEN_ROOT)
        passfile = self.directory / "pgpass"
        # host:port:database:user:password; '*' since the host differs between the backup and the stream.
        password = urlsplit(self.primary_url).password
        passfile.write_text(f"*:*:*:{POSTGRES_SUPERUSER}:{password}\n")
        passfile.chmod(0o600)
        shutil.chown(passfile, POSTGRES_OS_USER_WHEN_ROOT, POSTGRES_OS_USER_WHEN_ROOT)
        self._run(
            [
                str(postgres_bin_dir() / "pg_basebackup"),
                f"--pgdata={self.pgdata}",
                f"--host={LOOPBACK}",
                f"--port={self.port}",
                f"--username={POSTGRES_SUPERUSER}",
                "--no-password",
                *BASEBACKUP_ARGS,
            ],
            environ={"PGPASSFILE": str(passfile)},
        )
        (self.pgdata / "standby.signal").touch()
        conninfo = (
            f"host={self.primary_host} port={self.port} user={POSTGRES_SUPERUSER} passfile={passfile} "
            f"application_name={self.application_name}"
        )
        with (self.pgdata / "postgresql.auto.conf").open("a") as settings:
            settings.write(f"primary_conninfo = '{conninfo}'\n")
        # The test observes the replica from the root namespace, arriving from the link's side of the /24.
        with (self.pgdata / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.namespace.link_address}/32 scram-sha-256\n")
        shutil.chown(self.pgdata / "standby.signal", POSTGRES_OS_USER_WHEN_ROOT, POSTGRES_OS_USER_WHEN_ROOT)

    def start(self) -> None:
        options = (
            f"-c listen_addresses={LOOPBACK},{self.namespace.address} -p {self.port} -c unix_socket_directories=''"
            " -c hot_standby=on -c hot_standby_feedback=on"
            # After a cut heals, stream again within a second (PostgreSQL waits 5 s by default).
            " -c wal_retrieve_retry_interval=1s"
        )
        # The server's log goes to a file: pg_ctl's postmaster would keep a pipe open (cerebro/embedded.py).
        self._pg_ctl("start", "-w", "-t", str(START_SECONDS), "-l", str(self.directory / "server.log"), "-o", options)

    def stop(self) -> None:
        """Immediate shutdown: the replica is disposable (a promoted one is discarded after the drill)."""
        if (self.pgdata / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate", "-w")

    def promote(self) -> None:
        """End recovery and take writes, as `pg_ctl promote` does; returns once it is done."""
        self._pg_ctl("promote", "-w", "-t", str(START_SECONDS))

    def _pg_ctl(self, *args: str) -> None:
        """pg_ctl on this replica's data, inside the region's namespace."""
        pg_ctl = str(postgres_bin_dir() / "pg_ctl")
        self._run(self.namespace.command(*_as_postgres_account(), pg_ctl, args[0], "-D", str(self.pgdata), *args[1:]))

    # -- observation -------------------------------------------------------------------------

    def query(self, sql: str) -> object:
        """One value of ``sql`` (constant text from the test), asked from the root namespace."""

        async def ask() -> object:
            connection = await asyncpg.connect(self.url(observer=True), timeout=10)
            try:
                return await connection.fetchval(sql)
            finally:
                await connection.close()

        return asyncio.run(ask())

    def replay_lsn(self) -> str:
        """The last WAL position replayed: every transaction committed at or before it is visible here."""
        return str(self.query("SELECT pg_last_wal_replay_lsn()::text"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.directory / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _run(self, command: list[str], environ: dict[str, str] | None = None) -> None:
        with (self.directory / "commands.log").open("ab") as log:
            result = subprocess.run(
                command if command[0] == "ip" else [*_as_postgres_account(), *command],
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(environ or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
                check=False,
                timeout=START_SECONDS * 2,
            )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command[:8])} ... exited {result.returncode}:\n"
                f"{(self.directory / 'commands.log').read_text(errors='replace')[-3000:]}\n{self.log_tail()}"
            )
