"""The repository's conventions, enforced: lint, format, strict types on cerebro/, compatible contracts, and no
reference to documents outside the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RELEASED_CONTRACT = ROOT / "contracts" / "released.binpb"


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    result = run(str(BIN / "ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_cerebro_finds_nothing() -> None:
    result = run(sys.executable, "-m", "mypy", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contracts_keep_compatible_with_the_released_ones() -> None:
    result = run(str(BIN / "buf"), "breaking", "--against", str(RELEASED_CONTRACT))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_breaking_check_catches_a_removed_field(tmp_path: Path) -> None:
    """The check above can fail: a copy of the contracts with one field removed does not pass it."""
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    proto = tmp_path / "protos" / "cerebro" / "embedder" / "v1" / "embedder.proto"
    lines = proto.read_text().splitlines(keepends=True)
    field = next(index for index, line in enumerate(lines) if line.strip().startswith("string text = 1"))
    proto.write_text("".join(lines[:field] + lines[field + 1 :]))
    result = run(str(BIN / "buf"), "breaking", "--against", str(RELEASED_CONTRACT), cwd=tmp_path)
    assert result.returncode != 0
    assert "text" in result.stdout + result.stderr


def test_nothing_cites_a_document_outside_the_repository() -> None:
    outside = ["CONVENTIONS" + ".md", "shared/" + "seeds"]
    result = run("git", "grep", "-n", *(arg for name in outside for arg in ("-e", name)))
    assert result.stdout == "", result.stdout
