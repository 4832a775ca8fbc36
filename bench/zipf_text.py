"""Text with a realistic word distribution for the memory benchmark: Zipf's law over a large vocabulary.

Natural-language word frequencies fall off as 1 / rank (Zipf's law). The vocabulary here is the 100
most frequent English words (mostly function words, which the 'english' text search configuration
drops as stop words, as in real text where they are about half of all tokens) followed by
VOCABULARY_SIZE pronounceable made-up content words; every token is drawn with probability
proportional to 1 / rank**ZIPF_EXPONENT. So a query's content words match as many episodes as real
words would: a few common ones match thousands of the 100,000, most match tens.

Queries are questions about one remembered episode: some of its content words, some other words, as
an agent asks about something it remembers only in part.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left

# The most frequent words of English, most frequent first (general-purpose frequency lists agree on these).
_COMMON_WORDS_TEXT = """
the of and to a in is it you that he was for on are with as i his they be at one have this from or
had by not word but what some we can out other were all there when up use your how said an each she
which do their time if will way about many then them write would like so these her long make thing see
him two has look more day could go come did number sound no most people my over know water than call
first who may down side been now find
"""
COMMON_WORDS = tuple(_COMMON_WORDS_TEXT.split())
VOCABULARY_SIZE = 50_000
ZIPF_EXPONENT = 1.0
_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "cl",
           "dr", "fl", "gr", "pl", "pr", "sk", "sl", "st", "tr", "th", "sh", "ch"]  # fmt: skip
_NUCLEI = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "oo"]
_CODAS = ["", "", "n", "r", "l", "s", "t", "m", "nd", "st", "rk", "x"]


class ZipfText:
    """A seeded generator of episodes and queries over one fixed Zipf vocabulary."""

    def __init__(self, seed: int = 11) -> None:
        vocabulary_rng = random.Random(seed)
        content: list[str] = []
        seen = set(COMMON_WORDS)
        while len(content) < VOCABULARY_SIZE:
            syllables = vocabulary_rng.choice((1, 2, 2, 3))
            word = "".join(
                vocabulary_rng.choice(_ONSETS) + vocabulary_rng.choice(_NUCLEI) + vocabulary_rng.choice(_CODAS)
                for _ in range(syllables)
            )
            if word not in seen:
                seen.add(word)
                content.append(word)
        self.words = list(COMMON_WORDS) + content
        self._cumulative = list(
            itertools.accumulate(1.0 / rank**ZIPF_EXPONENT for rank in range(1, len(self.words) + 1))
        )

    def draw(self, rng: random.Random, count: int) -> list[str]:
        total = self._cumulative[-1]
        return [self.words[bisect_left(self._cumulative, rng.random() * total)] for _ in range(count)]

    def episode(self, rng: random.Random, low: int = 10, high: int = 40) -> str:
        """Sentences of 8-16 words, `low` to `high` words in all."""
        remaining = rng.randint(low, high)
        sentences: list[str] = []
        while remaining > 0:
            length = min(remaining, rng.randint(8, 16))
            sentences.append(" ".join(self.draw(rng, length)).capitalize() + ".")
            remaining -= length
        return " ".join(sentences)

    def question(self, rng: random.Random, about: str) -> str:
        """A 3-8 word question sharing one to three words with ``about``, the rest drawn from the vocabulary."""
        remembered = [word.strip(".").lower() for word in about.split()]
        length = rng.randint(3, 8)
        shared = rng.sample(remembered, min(len(remembered), rng.randint(1, 3)))
        words = shared + self.draw(rng, max(0, length - len(shared)))
        rng.shuffle(words)
        return " ".join(words) + "?"
