# Sourced by scripts/cerebro and scripts/test: make .venv hold this checkout and its dependencies.
# Needs only Python 3.11+ and the package registry. Re-installs only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.cerebro-installed"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Cerebro and its dependencies into $VENV (first run takes a few minutes)" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # The CPU build of PyTorch first: an unpinned torch from the index is a multi-GB CUDA build.
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
  # Every part (`cerebro up` runs them all) and the test tools; an agent needs only the client (README).
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[all,test]"
  echo "$want" > "$STAMP"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
