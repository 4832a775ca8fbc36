"""The contracts: stubs match protos/, and buf lint is clean."""

from __future__ import annotations

import filecmp
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from generate_protos import generate  # noqa: E402


def test_generated_stubs_are_up_to_date(tmp_path: Path) -> None:
    stale = []
    for fresh in generate(tmp_path):
        committed = ROOT / fresh.relative_to(tmp_path)
        if not committed.exists() or not filecmp.cmp(fresh, committed, shallow=False):
            stale.append(str(committed.relative_to(ROOT)))
    assert not stale, f"stale stubs (run `python scripts/generate_protos.py`): {stale}"


def test_buf_lint_is_clean() -> None:
    buf = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    if not Path(buf).exists() and importlib.util.find_spec("buf_bin") is None:
        pytest.fail("buf is not installed; it comes with the test extra (buf-bin)")
    result = subprocess.run([buf, "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
