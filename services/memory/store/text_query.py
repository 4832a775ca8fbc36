"""The search syntax of SearchEpisodes and SearchSemanticMemories queries.

- Plain words rank: a row needs only one of them, and rows with more of them, and rarer ones, rank higher.
- ``"a quoted phrase"`` is required: every hit contains its words in that order (they rank too).
- ``-word`` and ``-"a phrase"`` exclude: no hit contains them. A minus only excludes at the start of a
  word (``state-of-the-art`` is one word).

Stemming, stop words and the splitting of words are PostgreSQL's 'english' configuration, the one the
rows' search vectors are made with (migration 0006); this module only separates the three kinds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A token: an optional minus, then a quoted phrase (closing quote optional) or a run of other characters.
_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')


@dataclass(frozen=True)
class TextQuery:
    words: tuple[str, ...]
    phrases: tuple[str, ...]
    exclusions: tuple[str, ...]
    # The words and phrases in the order written, without quotes or exclusions: what is embedded and ranked.
    meaning: str

    @property
    def is_empty(self) -> bool:
        """Nothing to search for: no word or phrase outside the exclusions."""
        return not self.meaning

    @property
    def has_constraints(self) -> bool:
        return bool(self.phrases or self.exclusions)


def parse_text_query(query: str) -> TextQuery:
    words: list[str] = []
    phrases: list[str] = []
    exclusions: list[str] = []
    kept: list[str] = []
    for match in _TOKEN.finditer(query):
        minus, phrase, word = match.group(1), match.group(2), match.group(3)
        text = " ".join((phrase if phrase is not None else word).split())
        if not text:
            continue
        if minus and (phrase is not None or word):
            exclusions.append(text)
            continue
        (phrases if phrase is not None else words).append(text)
        kept.append(text)
    return TextQuery(tuple(words), tuple(phrases), tuple(exclusions), " ".join(kept))
