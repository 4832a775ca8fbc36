"""One truth for configuration: every CEREBRO_* variable the code reads is in the README's configuration
table, every variable the table documents is read, and every variable the deployment files set is read.

What the code reads is found two ways. Statically: every typed read of :class:`cerebro.environment.Env`
(``env.int("GATEWAY_PORT", ...)``, ``Env().secret("DATABASE_URL")``, ...) and every ``os.environ`` /
``os.getenv`` read, in cerebro/, services/ and scripts/. A read whose name is computed (an f-string, a
parameter) cannot be resolved that way: each such place must belong to a module listed in
:data:`LOADERS`, whose settings loaders are run here against an environment that records every name
looked up. A new computed read elsewhere fails the test until its loader is listed.

The table's first column must name each variable in full (``CEREBRO_X`` or ``CEREBRO_X(_FILE)`` for a
secret), without ``...`` or ``<SERVICE>`` placeholders, so that this comparison is exact.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from cerebro.runtime.config import DEFAULT_PORTS, Env, load_service_settings, load_tls_settings
from cerebro.runtime.database_roles import role_passwords_from_env
from services.memory.settings import EmbeddingsWorkerSettings, MemorySettings, ReconciliationWorkerSettings

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("cerebro", "services", "scripts")
# Defines the reads (its methods read PREFIX + name); it reads nothing of its own.
READER_MODULE = Path("cerebro/environment.py")
ENV_METHODS = {"str", "int", "float", "bool", "path", "choice", "secret"}
ENV_MODULES = {"cerebro.environment", "cerebro.runtime.config"}
VARIABLE = re.compile(r"CEREBRO_[A-Z0-9_]*[A-Z0-9]")


class RecordingEnviron(dict[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.looked_up.add(key)
        return default

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.looked_up.add(key)
        return False


def _service_settings(environ: Mapping[str, str]) -> None:
    for service in DEFAULT_PORTS:
        load_service_settings(service, environ)
    load_tls_settings(Env(environ))


# Modules whose reads have computed names, and how to make them read every name they can read.
LOADERS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "cerebro/runtime/config.py": _service_settings,
    "cerebro/runtime/database_roles.py": role_passwords_from_env,
    "services/memory/settings.py": lambda environ: [
        MemorySettings.from_env(environ),
        EmbeddingsWorkerSettings.from_env(environ),
        ReconciliationWorkerSettings.from_env(environ),
    ],
}


def _python_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative != READER_MODULE and not path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                yield path


def _imports_env(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and node.module in ENV_MODULES and any(a.name == "Env" for a in node.names)
        for node in ast.walk(tree)
    )


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _is_os_environ(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _scan(path: Path) -> tuple[set[str], list[str]]:
    """(names read with a constant name, places reading a computed name) of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = _module_constants(tree)
    uses_env = _imports_env(tree)
    read: set[str] = set()
    computed: list[str] = []

    def resolve(argument: ast.expr) -> str | None:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            return argument.value
        if isinstance(argument, ast.Name):
            return constants.get(argument.id)
        return None

    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            method, receiver = node.func.attr, node.func.value
            if uses_env and method in ENV_METHODS and not _is_os_environ(receiver):
                name = resolve(node.args[0])
                if name is None:
                    computed.append(where)
                else:
                    read.add("CEREBRO_" + name)
                    if method == "secret":
                        read.add("CEREBRO_" + name + "_FILE")
            is_os_read = (method == "get" and _is_os_environ(receiver)) or (
                method == "getenv" and isinstance(receiver, ast.Name) and receiver.id == "os"
            )
            if is_os_read:
                name = resolve(node.args[0])
                if name is not None and name.startswith("CEREBRO_"):
                    read.add(name)
        if isinstance(node, ast.Subscript) and _is_os_environ(node.value) and isinstance(node.ctx, ast.Load):
            name = resolve(node.slice)
            if name is not None and name.startswith("CEREBRO_"):
                read.add(name)
    return read, computed


def code_reads() -> tuple[set[str], dict[str, list[str]]]:
    """Every CEREBRO_* name the code reads; and, by module, the computed reads no loader of LOADERS covers."""
    read: set[str] = set()
    uncovered: dict[str, list[str]] = {}
    for path in _python_files():
        names, computed = _scan(path)
        read |= names
        module = str(path.relative_to(ROOT))
        if computed and module not in LOADERS:
            uncovered[module] = computed
    for loader in LOADERS.values():
        environ = RecordingEnviron()
        loader(environ)
        read |= {name for name in environ.looked_up if name.startswith("CEREBRO_")}
    return read, uncovered


def readme_table() -> dict[str, str]:
    """{variable: its row's first cell} of the README's configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        tokens = re.findall(r"`([^`]*)`", first_cell)
        if not any(token.startswith("CEREBRO_") for token in tokens):
            continue  # OpenTelemetry's own variables, read by its SDK
        leftover = re.sub(r"`[^`]*`", "", first_cell).replace(",", "").strip()
        assert not leftover, f"README configuration table: name each variable in full, not {first_cell.strip()!r}"
        for token in tokens:
            base, secret, rest = token.partition("(_FILE)")
            assert VARIABLE.fullmatch(base) and not rest, f"README configuration table: {token!r} is no variable name"
            documented[base] = first_cell
            if secret:
                documented[base + "_FILE"] = first_cell
    return documented


def deployment_settings() -> set[str]:
    """The CEREBRO_* variables the Dockerfile, compose file and manifests give a process."""
    found: set[str] = set()
    paths = [ROOT / "Dockerfile", ROOT / "docker-compose.yml"]
    paths += sorted(p for p in (ROOT / "deploy").rglob("*") if p.suffix in {".yml", ".yaml", ".sh", ".env"})
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#", 1)[0]
            # ${CEREBRO_...} is Docker Compose's own interpolation, not a process's setting.
            code = re.sub(r"\$\{CEREBRO_[A-Z0-9_]+[^}]*\}", "", code)
            found |= set(VARIABLE.findall(code))
    return found


def test_every_variable_the_code_reads_is_documented() -> None:
    read, _ = code_reads()
    undocumented = sorted(read - set(readme_table()))
    assert not undocumented, f"read by the code but not in the README's configuration table: {undocumented}"


def test_every_documented_variable_is_read() -> None:
    read, _ = code_reads()
    unread = sorted(set(readme_table()) - read)
    assert not unread, f"in the README's configuration table but read by no code: {unread}"


def test_every_computed_read_is_enumerated_by_a_loader() -> None:
    _, uncovered = code_reads()
    assert not uncovered, f"reads of a computed variable name outside LOADERS' modules (list a loader): {uncovered}"


def test_every_variable_the_deployment_sets_is_read() -> None:
    read, _ = code_reads()
    unread = sorted(deployment_settings() - read)
    assert not unread, f"set by the Dockerfile, compose file or manifests but read by no code: {unread}"


def test_the_scan_sees_reads_of_every_kind() -> None:
    """The scan itself: a constant Env read, a secret's _FILE, a computed read, an os.environ read."""
    read, _ = code_reads()
    assert {
        "CEREBRO_EMBEDDER_MAX_BATCH_TOKENS",  # env.int("EMBEDDER_MAX_BATCH_TOKENS", ...)
        "CEREBRO_API_KEY_FILE",  # env.secret("API_KEY")
        "CEREBRO_CONSENSUS_METRICS_PORT",  # env.int(f"{key}_METRICS_PORT", ...)
        "CEREBRO_MEMORY_DATABASE_ROLE",  # _role(env, "MEMORY_DATABASE_ROLE")
        "CEREBRO_LOG_LEVEL",  # os.environ.get("CEREBRO_LOG_LEVEL", ...)
    } <= read
    assert "CEREBRO_EMBEDDER_MAX_BATCH_CHUNKS" not in read
    assert "CEREBRO_EMBEDDINGS_WORKER_PORT" not in read  # a worker serves no gRPC port
