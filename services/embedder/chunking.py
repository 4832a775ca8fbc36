"""Split text into overlapping token windows that fit the model, so nothing is ever truncated.

Windows are measured in the model's own word-pieces (fast tokenizer offsets), and every chunk is an exact
substring of the original text. Together the chunks cover every character of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Encoding, Tokenizer

# Bump whenever the splitting rules below change: stored vectors carry it through the embedding version.
CHUNKER_VERSION = 1

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
_SENTENCE_END = frozenset(".!?…。！？")  # noqa: RUF001 (full-width marks are meant)
# Full-width terminators end a sentence even without a following space (CJK text has none).
_SPACELESS_SENTENCE_END = frozenset("。！？")  # noqa: RUF001

_WORD, _SENTENCE, _PARAGRAPH = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Chunk:
    """One window of a text: `text == original[start:end]`, holding `token_count` word-pieces."""

    start: int
    end: int
    text: str
    token_count: int


class TokenChunker:
    """Splits text into windows of at most `max_tokens` word-pieces that overlap by about `overlap_tokens`.

    A window ends, by preference, at a paragraph break, then a sentence end, then a word boundary, as long as
    that keeps it at least half full. Cuts fall between whole pre-tokenized words, so re-tokenizing a chunk on
    its own gives exactly the word-pieces it was measured with.
    """

    def __init__(self, tokenizer_file: Path, max_tokens: int, overlap_tokens: int) -> None:
        if max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2, got {max_tokens}")
        if not 0 <= overlap_tokens < max_tokens // 2:
            raise ValueError(f"overlap_tokens must be in [0, {max_tokens // 2}), got {overlap_tokens}")
        # A private tokenizer instance: the model's own one has truncation state that encode calls change.
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def count_tokens(self, text: str) -> int:
        """Word-pieces in `text`, without the special tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def split(self, text: str) -> list[Chunk]:
        """Windows covering all of `text`, in order; empty when the text has no word-pieces at all."""
        # encode_batch releases the GIL (encode does not), so chunking a huge text in a worker thread
        # leaves the event loop responsive.
        encoding = self._tokenizer.encode_batch([text], add_special_tokens=False)[0]
        offsets = encoding.offsets
        token_count = len(offsets)
        if token_count == 0:
            return []
        if token_count <= self.max_tokens:
            return [Chunk(0, len(text), text, token_count)]

        word_starts = _word_starts(encoding)
        chunks: list[Chunk] = []
        first = 0
        while True:
            if token_count - first <= self.max_tokens:
                last = token_count
            else:
                last = self._window_end(text, offsets, word_starts, first)
            # Leading and trailing characters with no token (spaces, control characters) are attached to
            # the neighbouring chunk so the chunks cover every character.
            start = 0 if first == 0 else offsets[first][0]
            end = len(text) if last == token_count else offsets[last][0]
            chunks.append(Chunk(start, end, text[start:end], last - first))
            if last == token_count:
                return chunks
            first = self._next_start(word_starts, first, last)

    def _window_end(self, text: str, offsets: list[tuple[int, int]], word_starts: list[bool], first: int) -> int:
        """Exclusive token index where the window starting at `first` should end."""
        limit = first + self.max_tokens
        shortest = first + self.max_tokens // 2
        best_cut, best_rank = limit, 0
        for cut in range(limit, shortest, -1):
            if not word_starts[cut]:
                continue
            rank = _boundary_rank(text, offsets[cut - 1][1], offsets[cut][0])
            if rank > best_rank:
                best_cut, best_rank = cut, rank
                if rank == _PARAGRAPH:
                    break
        if best_rank:
            return best_cut
        # Only reachable when a single word spans more than half a window: cut at the nearest word start,
        # and inside the word only if it is longer than the whole window.
        for cut in range(shortest, first, -1):
            if word_starts[cut]:
                return cut
        return limit

    def _next_start(self, word_starts: list[bool], first: int, last: int) -> int:
        """First token of the next window: a word start inside the overlap, else the end of this window."""
        for candidate in range(max(last - self.overlap_tokens, first + 1), last):
            if word_starts[candidate]:
                return candidate
        return last


def _word_starts(encoding: Encoding) -> list[bool]:
    """For each token, whether it starts a new pre-tokenized word (so a cut before it splits no word)."""
    word_ids = encoding.word_ids
    return [index == 0 or word_ids[index] != word_ids[index - 1] for index in range(len(word_ids))]


def _boundary_rank(text: str, gap_start: int, gap_end: int) -> int:
    """How good a cut is between the token ending at `gap_start` and the one starting at `gap_end`."""
    gap = text[gap_start:gap_end]
    if _PARAGRAPH_BREAK.search(gap):
        return _PARAGRAPH
    previous = text[gap_start - 1] if gap_start > 0 else ""
    if "\n" in gap or (previous in _SENTENCE_END and (gap.isspace() or previous in _SPACELESS_SENTENCE_END)):
        return _SENTENCE
    return _WORD
