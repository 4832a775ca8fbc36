"""Progress bars on stderr: shown on a terminal, off otherwise or when asked to be quiet."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def progress_bar(total: int, description: str, *, enabled: bool) -> tqdm:
    """A bar counting rows toward ``total``, with rate and ETA."""
    return tqdm(
        total=total,
        desc=description,
        unit="row",
        unit_scale=True,
        dynamic_ncols=True,
        file=sys.stderr,
        disable=not enabled,
    )
