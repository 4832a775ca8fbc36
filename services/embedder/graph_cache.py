"""A directory of model graphs built at start-up, so a restart loads them instead of building them again.

Each graph is stored as `<name>-<key>.onnx`, where the key is a digest of everything the graph is built from
(the caller's `inputs`), beside `<name>-<key>.onnx.sha256`, the digest of the graph's own bytes. A graph is
used only when its bytes match that digest; anything else (a missing, partial, truncated or altered file) is
rebuilt. Files are written to a temporary name and renamed into place, so no reader ever sees half a file,
and builders of the same graph take turns through a lock file, so processes starting together build it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

# Longest a starting process waits for another one building the same graph (an int8 build takes ~15 s).
LOCK_TIMEOUT_SECONDS = 600.0


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(inputs: Mapping[str, str]) -> str:
    """A short digest of what a graph is built from; any change gives another file name."""
    return digest(json.dumps(dict(inputs), sort_keys=True).encode())[:20]


class GraphCache:
    """Graphs under `directory`; `None` keeps nothing on disk (every start builds in memory)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def get_or_build(self, name: str, inputs: Mapping[str, str], build: Callable[[], bytes]) -> bytes:
        """The graph `name` built from `inputs`: from the cache when it is intact, else from `build()`."""
        if self.directory is None:
            return build()
        path = self.directory / f"{name}-{cache_key(inputs)}.onnx"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with FileLock(self.directory / f"{name}.lock", timeout=LOCK_TIMEOUT_SECONDS):
                cached = _read_intact(path)
                if cached is not None:
                    return cached
                graph = build()
                _write_atomically(path, graph)
                _prune(self.directory, name, keep=path)
                return graph
        except OSError as error:
            # A read-only or full disk costs start-up time, never the service.
            log.warning("model cache %s unusable (%s); building %s in memory", self.directory, error, name)
            return build()


def _read_intact(path: Path) -> bytes | None:
    """The file's bytes when they match its recorded digest; a damaged entry is removed and None returned."""
    checksum = path.with_name(path.name + ".sha256")
    if not path.exists() and not checksum.exists():
        return None
    try:
        data = path.read_bytes()
        expected = checksum.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        data, expected = b"", ""
    if expected and digest(data) == expected:
        return data
    log.warning("cached model graph %s is damaged or incomplete; rebuilding it", path)
    for stale in (path, checksum):
        stale.unlink(missing_ok=True)
    return None


def _write_atomically(path: Path, graph: bytes) -> None:
    """The graph, then its digest, each renamed into place after it is on disk: the digest marks it complete."""
    _replace(path, graph)
    _replace(path.with_name(path.name + ".sha256"), digest(graph).encode("ascii"))


def _replace(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _prune(directory: Path, name: str, keep: Path) -> None:
    """Remove graphs of the same name built from other inputs (an older model or library version), and the
    temporary files of builds that were killed (the lock is held, so no build of this name is running)."""
    stale = [*directory.glob(f"{name}-*.onnx*"), *directory.glob(f".{name}-*.tmp")]
    for old in stale:
        if old.name not in (keep.name, keep.name + ".sha256"):
            old.unlink(missing_ok=True)
