"""Database URLs given to operator commands: read from a secret file, and shown without their password."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from cerebro.runtime.config import ConfigError, Env

SCHEMES = ("postgresql", "postgres")


class DsnError(ValueError):
    """A database URL could not be read or is not a postgresql:// URL."""


def read_dsn_file(path: Path) -> str:
    """The URL held in ``path`` (a secret file: its content, stripped of surrounding whitespace)."""
    try:
        dsn = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise DsnError(f"cannot read {path}: {error.strerror}") from None
    return check_dsn(dsn, str(path))


def check_dsn(dsn: str, origin: str) -> str:
    """``dsn`` if it is a postgresql:// URL; the error names ``origin``, never the value (it may hold a password)."""
    parts = urlsplit(dsn)
    if parts.scheme not in SCHEMES:
        raise DsnError(f"{origin}: not a postgresql:// URL")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise DsnError(f"{origin}: the port is not a number from 0 to 65535") from None
    return dsn


def redact(dsn: str) -> str:
    """``dsn`` without any password (in the authority or as a query parameter), fit for logs and reports."""
    try:
        check_dsn(dsn, "")
    except DsnError:
        return "(a database URL)"
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    query = urlencode([(key, value) for key, value in parse_qsl(parts.query) if key != "password"])
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}", query=query))


def split_password(dsn: str) -> tuple[str, str | None]:
    """(``dsn`` without its password, the password): libpq tools get the password through their
    environment, never on a command line that `ps` shows."""
    parts = urlsplit(dsn)
    password = dict(parse_qsl(parts.query)).get("password")
    if parts.password is not None:
        password = unquote(parts.password)
    return redact(dsn), password


def cerebro_database_url() -> str:
    """The Cerebro database every operator command works on: CEREBRO_DATABASE_URL or CEREBRO_DATABASE_URL_FILE."""
    dsn = Env().secret("DATABASE_URL")
    if dsn is None:
        raise ConfigError("CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required")
    try:
        return check_dsn(dsn, "CEREBRO_DATABASE_URL")
    except DsnError as error:
        raise ConfigError(str(error)) from None
