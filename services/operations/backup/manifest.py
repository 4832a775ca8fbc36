"""`manifest.json`: what a backup holds, written last (a directory without it is no finished backup)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.operations.backup.inventory import TableState

FORMAT = "cerebro-backup/1"
MANIFEST_FILE = "manifest.json"
DUMP_FILE = "cerebro.dump"


class ManifestError(RuntimeError):
    """The manifest is missing, unreadable, or does not match the dump beside it."""


@dataclass(frozen=True)
class Manifest:
    created_at: str
    database: str
    server_version: str
    pg_dump_version: str
    schema_versions: dict[str, dict[str, Any]]
    roles: list[str]
    checksum_method: str
    dump_file: str
    dump_bytes: int
    dump_sha256: str
    tables: dict[str, TableState]

    def to_json(self) -> str:
        document = {"format": FORMAT, **asdict(self)}
        document["tables"] = {name: asdict(state) for name, state in self.tables.items()}
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        document = json.loads(text)
        if document.pop("format", None) != FORMAT:
            raise ManifestError(f"not a {FORMAT} manifest")
        document["tables"] = {name: TableState(**state) for name, state in document["tables"].items()}
        return cls(**document)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_durably(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file, flushed to disk, renamed into place."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    partial.rename(path)


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_FILE
    try:
        return Manifest.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path} is missing: not a finished backup") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ManifestError(f"{path} is not a valid manifest: {error}") from None
