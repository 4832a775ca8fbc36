"""`cerebro remember --from-jsonl FILE`: a file of episodes, one JSON object a line, through RememberBatch.

Each line is a Remember request in its canonical JSON form (`{"content": "...", "tags": ["chat"]}`, or an
action with `action_type`); blank lines are skipped. The whole file is read first, so a line that is not
such an object stops the command before anything is sent, naming its line. A line without `request_id`
gets one derived from the file's path, the line's number and its text: running the command again on the
same file (after an interruption, or after fixing a refused line) stores nothing twice.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format
from tqdm import tqdm

from cerebro.client import AsyncCerebroClient, CerebroError, ClientSettings
from cerebro.gateway.v1 import gateway_pb2 as pb

MAX_BATCH = 1000
# Names the request ids of lines without one (uuid5 of path, line number and text).
LINE_IDS = uuid.UUID("5f0c3e1e-9d1a-4a43-8f77-0b4c1c7e2a55")
_ITEM_FIELD = re.compile(r"^episodes\[(\d+)\]")


class BadLine(ValueError):
    """A line that is not a Remember request in JSON."""


@dataclass(frozen=True)
class Line:
    number: int
    request: pb.RememberRequest


def read_lines(path: Path) -> list[Line]:
    """Every episode of the file, each with a request id; `BadLine` names the first line that is not one."""
    source = str(path.resolve())
    lines = []
    with path.open(encoding="utf-8") as file:
        for number, text in enumerate(file, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise BadLine(f"{path}:{number}: not JSON: {error.msg} (column {error.colno})") from None
            if not isinstance(value, dict):
                raise BadLine(f"{path}:{number}: not a JSON object")
            try:
                request = json_format.ParseDict(value, pb.RememberRequest())
            except json_format.ParseError as error:
                raise BadLine(f"{path}:{number}: not a Remember request: {error}") from None
            if not request.request_id:
                request.request_id = str(uuid.uuid5(LINE_IDS, f"{source}\n{number}\n{text.rstrip()}"))
            lines.append(Line(number, request))
    return lines


def batches(lines: list[Line], size: int) -> Iterator[list[Line]]:
    for start in range(0, len(lines), size):
        yield lines[start : start + size]


def refused_lines(error: CerebroError, batch: list[Line]) -> list[int]:
    """The file's line numbers of the items a refused batch's field violations name."""
    numbers = set()
    for violation in error.field_violations:
        match = _ITEM_FIELD.match(violation.field)
        if match and int(match[1]) < len(batch):
            numbers.add(batch[int(match[1])].number)
    return sorted(numbers)


async def remember_file(settings: ClientSettings, path: Path, batch_size: int, *, progress: bool = True) -> int:
    """Send the file's episodes in batches of ``batch_size``; the exit status (2: bad file, 1: refused)."""
    try:
        lines = read_lines(path)
    except (OSError, UnicodeDecodeError, BadLine) as error:
        print(f"cerebro remember: {error}", file=sys.stderr)
        return 2
    stored = 0
    async with AsyncCerebroClient(settings) as client:
        with tqdm(total=len(lines), unit="episode", disable=not progress, file=sys.stderr) as bar:
            for batch in batches(lines, batch_size):
                try:
                    await client.remember_batch([line.request for line in batch])
                except CerebroError as error:
                    bar.close()
                    refused = refused_lines(error, batch)
                    where = (
                        f"line {', '.join(map(str, refused))}"
                        if refused
                        else f"lines {batch[0].number}-{batch[-1].number}"
                    )
                    print(
                        f"cerebro remember: {path}, {where}: {error.one_line()}\n"
                        f"{stored} episodes were stored before this batch (none of it); "
                        "run again once fixed: lines already stored are not stored twice",
                        file=sys.stderr,
                    )
                    return 1
                stored += len(batch)
                bar.update(len(batch))
    print(f"{stored} episodes remembered from {path}")
    return 0
