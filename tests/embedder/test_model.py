"""The Encoder gives the same vectors as plain sentence-transformers, without ever truncating a text."""

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from services.embedder.model import FORWARD_BATCH_SIZE, MODEL_NAME, Backend, EmptyTextError, Encoder, forward_passes

SHORT_TEXTS = [
    "The deploy failed at 14:02 because the disk was full.",
    "ARIA prefers concise answers with links to sources.",
    "Café naïve façade — 東京は日本の首都です。 🚀",
    "x",
]
LONG_TEXT = "\n\n".join(
    " ".join(f"Episode {p}.{s}: the agent recorded observation number {s} about the cluster." for s in range(15))
    for p in range(12)
)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_describes_the_model(torch_encoder: Encoder) -> None:
    assert torch_encoder.model_name == MODEL_NAME == "sentence-transformers/all-MiniLM-L6-v2"
    assert torch_encoder.dimensions == 384
    assert torch_encoder.max_tokens_per_chunk == 254


def test_embedding_version_changes_with_chunking_parameters(torch_encoder: Encoder) -> None:
    other = Encoder(Backend.TORCH, overlap_tokens=torch_encoder.overlap_tokens + 8)

    assert other.embedding_version != torch_encoder.embedding_version
    for part in (MODEL_NAME, "d384", "w254", f"o{torch_encoder.overlap_tokens}"):
        assert part in torch_encoder.embedding_version


def test_backends_share_one_embedding_version(torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    assert torch_encoder.embedding_version == onnx_encoder.embedding_version


def test_short_text_equals_plain_sentence_transformers(encoder: Encoder, reference_model: SentenceTransformer) -> None:
    encoded = encoder.encode_texts(SHORT_TEXTS)

    assert encoded.vectors.shape == (len(SHORT_TEXTS), 384)
    assert encoded.vectors.dtype == np.float32
    assert encoded.chunk_counts == (1,) * len(SHORT_TEXTS)
    for text, vector in zip(SHORT_TEXTS, encoded.vectors, strict=True):
        expected = reference_model.encode(text, normalize_embeddings=True)
        assert cosine(vector, expected) > 0.9999


def test_long_text_is_the_normalised_mean_of_its_chunk_vectors(
    encoder: Encoder, reference_model: SentenceTransformer
) -> None:
    chunks = encoder.chunk(LONG_TEXT)
    chunk_vectors = reference_model.encode([chunk.text for chunk in chunks], normalize_embeddings=True)
    mean = chunk_vectors.mean(axis=0)

    encoded = encoder.encode_texts([LONG_TEXT])

    assert encoded.chunk_counts == (len(chunks),)
    assert len(chunks) > 1
    assert np.linalg.norm(encoded.vectors[0]) == pytest.approx(1.0, abs=1e-6)
    assert cosine(encoded.vectors[0], mean) > 0.9999


def test_texts_keep_their_order_and_do_not_affect_each_other(encoder: Encoder) -> None:
    texts = [LONG_TEXT, *SHORT_TEXTS, LONG_TEXT[:3000]]

    together = encoder.encode_texts(texts)

    for index, text in enumerate(texts):
        alone = encoder.encode_texts([text])
        assert together.chunk_counts[index] == alone.chunk_counts[0]
        assert cosine(together.vectors[index], alone.vectors[0]) > 0.9999


def test_backends_agree_on_padded_batches(torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    texts = [*SHORT_TEXTS, LONG_TEXT, LONG_TEXT[:700]]

    from_torch = torch_encoder.encode_texts(texts).vectors
    from_onnx = onnx_encoder.encode_texts(texts).vectors

    for a, b in zip(from_torch, from_onnx, strict=True):
        assert cosine(a, b) > 0.9999


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", "\x00"])
def test_empty_text_is_refused_with_its_index(torch_encoder: Encoder, bad: str) -> None:
    with pytest.raises(EmptyTextError) as raised:
        torch_encoder.encode_texts(["fine", bad])

    assert isinstance(raised.value, ValueError)
    assert raised.value.index == 1


def test_no_texts_gives_no_vectors(torch_encoder: Encoder) -> None:
    encoded = torch_encoder.encode_texts([])

    assert encoded.vectors.shape == (0, 384)
    assert encoded.chunk_counts == ()


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError):
        Encoder("tensorflow")


def test_forward_passes_cover_every_input_once_in_order() -> None:
    lengths = sorted((7 * n % 61 + 3 for n in range(100)), reverse=True)

    passes = forward_passes(lengths)

    assert [index for part in passes for index in range(part.start, part.stop)] == list(range(100))
    assert all(part.stop - part.start <= FORWARD_BATCH_SIZE for part in passes)


def test_a_full_chunk_gets_a_forward_pass_of_its_own_rather_than_padding_short_texts() -> None:
    assert forward_passes([256] + [30] * 15) == [slice(0, 1), slice(1, 16)]
    assert forward_passes([40, 38, 37, 35]) == [slice(0, 4)]
