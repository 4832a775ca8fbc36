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


def test_field_behaviour_is_an_annotation_not_a_comment() -> None:
    """AIP-203: required, optional, output-only and immutable fields say so with google.api.field_behavior,
    which tools can read; a comment that starts the old way ("// Required. ...") is a field left behind."""
    from google.api import field_behavior_pb2

    from cerebro.gateway.v1 import gateway_pb2

    leftovers = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "protos" / "cerebro").rglob("*.proto"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip().startswith(("// Required. ", "// Optional. ", "// Output only. ", "// Immutable. "))
    ]
    assert not leftovers, "\n".join(leftovers)
    episodes = gateway_pb2.RememberBatchRequest.DESCRIPTOR.fields_by_name["episodes"]
    assert list(episodes.GetOptions().Extensions[field_behavior_pb2.field_behavior]) == [field_behavior_pb2.REQUIRED]
