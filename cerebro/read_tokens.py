"""Read tokens: how a caller's reads see its own writes when reads may be served by a replica.

A write of the memory service answers with a token in the trailing metadata ``x-cerebro-lsn``: where
its transaction had taken PostgreSQL's WAL, and the transaction's id. A read that brings the token back
in ``x-cerebro-min-lsn`` is served by a replica only once the replica has replayed that write. The
client and the gateway keep a session's latest token (the one furthest in the WAL) and send it with
every call. A token reads ``<lsn>`` or ``<lsn>:<xid>``, e.g. ``0/3000148:752``; callers need not look
inside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

WRITTEN_HEADER = "x-cerebro-lsn"
REQUIRED_HEADER = "x-cerebro-min-lsn"

_TOKEN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})(?::([0-9]{1,20}))?")


@dataclass(frozen=True)
class ReadToken:
    lsn: int
    # The writing transaction's full (64-bit) id; None when the position alone covers the write.
    xid: int | None = None

    @property
    def lsn_text(self) -> str:
        """The position as PostgreSQL writes a pg_lsn."""
        return f"{self.lsn >> 32:X}/{self.lsn & 0xFFFFFFFF:X}"

    def __str__(self) -> str:
        return self.lsn_text if self.xid is None else f"{self.lsn_text}:{self.xid}"

    @classmethod
    def parse(cls, text: str) -> ReadToken | None:
        """The token ``text`` spells, None if it spells none."""
        match = _TOKEN.fullmatch(text.strip())
        if match is None:
            return None
        high, low, xid = match.groups()
        return cls((int(high, 16) << 32) | int(low, 16), None if xid is None else int(xid))


def later(first: ReadToken | None, second: ReadToken | None) -> ReadToken | None:
    """The token of the two that asks for more of the WAL."""
    if first is None or second is None:
        return first or second
    return second if second.lsn > first.lsn else first


def header_token(metadata: Iterable[tuple[str, str | bytes]] | None, header: str) -> ReadToken | None:
    """The latest well-formed token in ``metadata`` under ``header``; malformed ones are ignored."""
    found: ReadToken | None = None
    for key, value in metadata or ():
        if key == header:
            found = later(found, ReadToken.parse(value if isinstance(value, str) else value.decode(errors="replace")))
    return found
