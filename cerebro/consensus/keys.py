"""An instance's Ed25519 key in a PEM file, made on first use: what a process or an agent signs with.

Shared by the services (cerebro.runtime.registration) and the client (an agent's --key-file).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key


def load_or_create_identity_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key at ``path``, created (mode 0600) on first use; safe against concurrent creators."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(staging, path)  # atomic, and fails if another process created the key first
        except FileExistsError:
            pass
        finally:
            staging.unlink()
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key
