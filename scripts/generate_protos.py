"""Generate the Python gRPC stubs for every .proto under protos/ (the only way stubs are made).

Usage: python scripts/generate_protos.py [OUTPUT_DIR]   (default: the repository root)

Stubs land beside the `cerebro` package sources, at the import path their proto package names
(`cerebro.embedder.v1.embedder_pb2`), with .pyi files for type checkers. tests/test_protos.py
regenerates into a temporary directory and fails when the committed stubs differ.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(path for path in (PROTO_DIR / "cerebro").rglob("*.proto"))


def generate(output_dir: Path) -> list[Path]:
    """Write stubs for all protos into ``output_dir``; returns the files written."""
    sources = proto_files()
    well_known = str(files("grpc_tools") / "_proto")
    # mypy-protobuf's plugins, installed beside this interpreter, write the type stubs of the messages and
    # of the gRPC stubs and servicers (grpc_tools writes none for the latter).
    plugins = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={output_dir}",
        f"--mypy_out={output_dir}",
        f"--grpc_python_out={output_dir}",
        f"--mypy_grpc_out={output_dir}",
        *(str(path) for path in sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = []
    for source in sources:
        relative = source.parent.relative_to(PROTO_DIR)  # e.g. cerebro/embedder/v1
        # Every directory on the way must be an importable package.
        for depth in range(1, len(relative.parts) + 1):
            init = output_dir.joinpath(*relative.parts[:depth], "__init__.py")
            if not init.exists():
                init.touch()
        written += sorted((output_dir / relative).glob(f"{source.stem}_pb2*.py*"))
    return written


def main() -> None:
    output_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    for path in generate(output_dir):
        print(path.relative_to(output_dir))


if __name__ == "__main__":
    main()
