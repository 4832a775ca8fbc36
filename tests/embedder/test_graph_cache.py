"""The graph cache builds each graph once, never serves a damaged file, and survives concurrent starts."""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import pytest

from services.embedder.graph_cache import GraphCache, cache_key, digest

INPUTS = {"weights": "abc", "library": "1.0"}


class Builder:
    """Counts its builds; the graph bytes depend on the inputs, as a real export's do."""

    def __init__(self, graph: bytes = b"graph bytes " * 1000) -> None:
        self.graph = graph
        self.builds = 0

    def __call__(self) -> bytes:
        self.builds += 1
        return self.graph


def graph_path(directory: Path, inputs: dict[str, str] = INPUTS) -> Path:
    return directory / f"model-{cache_key(inputs)}.onnx"


def test_a_graph_is_built_once_then_read_from_disk(tmp_path: Path) -> None:
    build = Builder()

    first = GraphCache(tmp_path).get_or_build("model", INPUTS, build)
    second = GraphCache(tmp_path).get_or_build("model", INPUTS, build)

    assert first == second == build.graph
    assert build.builds == 1
    path = graph_path(tmp_path)
    assert path.read_bytes() == build.graph
    assert path.with_name(path.name + ".sha256").read_text() == digest(build.graph)


def test_changed_inputs_build_anew_and_remove_the_old_graph(tmp_path: Path) -> None:
    cache = GraphCache(tmp_path)
    cache.get_or_build("model", INPUTS, Builder(b"old"))
    newer = {**INPUTS, "weights": "def"}
    build = Builder(b"new")

    assert cache.get_or_build("model", newer, build) == b"new"

    assert build.builds == 1
    assert not graph_path(tmp_path).exists()
    assert sorted(p.name for p in tmp_path.glob("model-*")) == [
        graph_path(tmp_path, newer).name,
        graph_path(tmp_path, newer).name + ".sha256",
    ]


@pytest.mark.parametrize("damage", ["truncated", "altered", "no checksum", "empty checksum"])
def test_a_damaged_graph_is_rebuilt(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    cache = GraphCache(tmp_path)
    cache.get_or_build("model", INPUTS, Builder())
    path = graph_path(tmp_path)
    checksum = path.with_name(path.name + ".sha256")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "altered":
        data = bytearray(path.read_bytes())
        data[500] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "no checksum":  # killed between writing the graph and its checksum
        checksum.unlink()
    else:
        checksum.write_text("")
    build = Builder()

    with caplog.at_level(logging.WARNING):
        assert cache.get_or_build("model", INPUTS, build) == build.graph

    assert build.builds == 1
    assert "damaged or incomplete" in caplog.text
    assert path.read_bytes() == build.graph
    assert checksum.read_text() == digest(build.graph)


def test_temporary_files_of_a_killed_build_are_removed(tmp_path: Path) -> None:
    leftover = tmp_path / f".model-{cache_key(INPUTS)}.onnx.x1y2.tmp"
    leftover.write_bytes(b"half a graph")

    GraphCache(tmp_path).get_or_build("model", INPUTS, Builder())

    assert not leftover.exists()


def test_an_unusable_directory_builds_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("in the way")
    build = Builder()

    with caplog.at_level(logging.WARNING):
        assert GraphCache(not_a_directory / "cache").get_or_build("model", INPUTS, build) == build.graph

    assert build.builds == 1
    assert "building model in memory" in caplog.text


def test_no_directory_keeps_nothing(tmp_path: Path) -> None:
    build = Builder()

    GraphCache(None).get_or_build("model", INPUTS, build)
    GraphCache(None).get_or_build("model", INPUTS, build)

    assert build.builds == 2


def _start_and_build(directory: str, log_file: str) -> None:
    """A process starting up: builds the graph (slowly) unless another process already did."""

    def build() -> bytes:
        with open(log_file, "a") as log:
            log.write("built\n")
        time.sleep(0.5)
        return b"graph bytes " * 1000

    assert GraphCache(Path(directory)).get_or_build("model", INPUTS, build) == b"graph bytes " * 1000


def test_processes_starting_together_build_the_graph_once(tmp_path: Path) -> None:
    log_file = tmp_path / "builds.log"
    context = multiprocessing.get_context("spawn")
    starts = [context.Process(target=_start_and_build, args=(str(tmp_path / "cache"), str(log_file))) for _ in range(3)]
    for process in starts:
        process.start()
    for process in starts:
        process.join(timeout=120)

    assert [process.exitcode for process in starts] == [0, 0, 0]
    assert log_file.read_text().splitlines() == ["built"]
