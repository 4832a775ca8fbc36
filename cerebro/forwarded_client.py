"""How a face in front of the gateway passes on the address of its own client: the gateway's HTTP face, and
`cerebro mcp --transport http`. To the gateway every client of a face comes from the face's address; with
this metadata, proven by a secret the gateway knows, the gateway counts authentication failures per client
instead, so one client's bad keys do not lock the face's other clients out. Metadata without the proof is
ignored.
"""

from __future__ import annotations

import re

from cerebro.environment import ConfigError

FORWARDED_CLIENT_METADATA = "x-cerebro-http-client"

# The proof is the first word of the metadata's value, and must be hard to guess.
_PROOF = re.compile(r"[!-~]{16,512}")


def forwarded_client(proof: str, address: str) -> tuple[str, str]:
    """The metadata entry that names ``address`` as the client of the call, proven by ``proof``."""
    return FORWARDED_CLIENT_METADATA, f"{proof} {address}"


def forwarding_proof(value: str | None, variable: str) -> str | None:
    """``value``, read from ``variable`` (or its _FILE), if it can be a proof; ConfigError naming it if not."""
    if value is not None and not _PROOF.fullmatch(value):
        raise ConfigError(f"{variable}(_FILE) must hold 16 to 512 printable characters without spaces")
    return value
