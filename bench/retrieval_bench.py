"""Retrieval quality of Recall on the Cranfield collection, against in-process BM25, vectors and their fusion.

    PYTHONPATH=. .venv/bin/python bench/retrieval_bench.py CRANFIELD_DIR [--backend onnx] [--reference-backend torch]

CRANFIELD_DIR holds the classic Cranfield test collection: `cran.all.1400` (1,400 aeronautics abstracts),
`cran.qry` (225 natural-language questions) and `cranqrel` (relevance judgments: query number in file
order, document number, code 1-4 or -1). It is not in this repository: public copies of the three files
are in many GitHub repositories (search for `cranqrel`), and the original archive is distributed by the
University of Glasgow's IR group as `cran.tar.gz`.

What it does, on a real `cerebro up` (embedded PostgreSQL and Redis, every service as its own process,
free loopback ports, a temporary data directory):

1. every document (its abstract; the title when the abstract is empty; the two empty documents are
   skipped) is stored with `Remember` in one namespace, and the run waits until all are embedded;
2. every question is asked with `Recall`, top_k 10, in hybrid mode, and with top_k 100 in text and
   vector modes (their first 10 are the text and vector rows; all 100 feed the fusion study);
3. in the same run, in-process references: `bm25s` (Okapi BM25, k1 1.2 and b 0.75 as the service,
   English stop words, Snowball English stemmer from PyStemmer), the same MiniLM model
   (services.embedder.model.Encoder, exact cosine over every document) and their reciprocal rank
   fusion (k 60, 100 candidates each, as the service); and the text ranking Cerebro used before BM25
   (websearch_to_tsquery + ts_rank_cd) run in SQL on the same rows.

Metrics over the 225 questions: recall@10 (share of a question's relevant documents in its top 10),
nDCG@10 with graded gains (Cleverdon's codes: 1, a complete answer, gain 4; 2 -> 3; 3 -> 2; 4 -> 1;
-1 not relevant) and MRR@10 (reciprocal rank of the first relevant document). Differences of nDCG@10
between rows are given with a 95% paired bootstrap interval.

`--backend` chooses the embedder backend of the service (CEREBRO_EMBEDDER_BACKEND) and, unless
`--reference-backend` says otherwise, of the in-process encoder: comparing two backends on the same
vectors of the same collection is one run with two values.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import asyncpg
import bm25s
import numpy as np
import Stemmer

from cerebro.cli.main import PROCESS_MODULES
from cerebro.client import AsyncCerebroClient, ClientSettings
from cerebro.memory.v1 import episodes_pb2
from cerebro.runtime.config import DEFAULT_PORTS
from services.embedder.model import Backend, Encoder
from services.gateway.keys import issue_key
from services.memory.store.search import RRF_K, candidate_count
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "cranfield"
TOP_K = 10
DEPTH = candidate_count(TOP_K)
K1, B = 1.2, 0.75
CONCURRENCY = 8
# Cleverdon's relevance codes -> nDCG gain; -1 ("of no interest") and anything else count as not relevant.
GAINS = {1: 4, 2: 3, 3: 2, 4: 1}


@dataclass(frozen=True)
class Collection:
    documents: dict[str, str]
    queries: dict[str, str]
    judgments: dict[str, dict[str, int]]


def _records(path: Path) -> Iterator[tuple[str, dict[str, list[str]]]]:
    """(number, {field letter: lines}) of a SMART-format file (.I number, then .T/.A/.B/.W fields)."""
    number, field = "", ""
    fields: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if match := re.match(r"^\.I\s*(\d*)\s*$", line):
            if number:
                yield number, fields
            number, fields, field = match[1], {}, ""
        elif re.match(r"^\.[A-Z]$", line):
            field = line[1]
            fields.setdefault(field, [])
        elif number and field:
            fields[field].append(line)
    if number:
        yield number, fields


def load_cranfield(directory: Path) -> Collection:
    documents = {}
    for number, fields in _records(directory / "cran.all.1400"):
        text = " ".join(" ".join(fields.get("W", [])).split()) or " ".join(" ".join(fields.get("T", [])).split())
        if text:
            documents[str(int(number))] = text
    # Judgments number the questions by their position in cran.qry, not by their .I numbers.
    queries = {
        str(position): " ".join(" ".join(fields.get("W", [])).split())
        for position, (_, fields) in enumerate(_records(directory / "cran.qry"), start=1)
    }
    judgments: dict[str, dict[str, int]] = {}
    for line in (directory / "cranqrel").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and int(parts[2]) in GAINS and str(int(parts[1])) in documents:
            judgments.setdefault(parts[0], {})[str(int(parts[1]))] = GAINS[int(parts[2])]
    if len(documents) < 1000 or len(queries) < 200 or not judgments:
        raise SystemExit(f"{directory} does not hold the Cranfield collection (see --help)")
    return Collection(documents, {key: queries[key] for key in judgments}, judgments)


# Metrics


def query_metrics(ranked: Sequence[str], gains: dict[str, int]) -> tuple[float, float, float]:
    """recall@10, nDCG@10, MRR@10 of one question."""
    top = list(ranked[:TOP_K])
    found = [document for document in top if document in gains]
    dcg = sum(
        (2 ** gains[document] - 1) / math.log2(position + 2)
        for position, document in enumerate(top)
        if document in gains
    )
    ideal = sorted(gains.values(), reverse=True)[:TOP_K]
    idcg = sum((2**gain - 1) / math.log2(position + 2) for position, gain in enumerate(ideal))
    first = next((1 / (position + 1) for position, document in enumerate(top) if document in gains), 0.0)
    return len(found) / len(gains), dcg / idcg, first


@dataclass(frozen=True)
class Scores:
    recall: float
    ndcg: float
    mrr: float
    per_query_ndcg: np.ndarray


def evaluate(runs: dict[str, list[str]], collection: Collection) -> Scores:
    rows = np.array([query_metrics(runs.get(key, []), gains) for key, gains in collection.judgments.items()])
    recall, ndcg, mrr = (float(value) for value in rows.mean(axis=0))
    return Scores(recall, ndcg, mrr, per_query_ndcg=rows[:, 1])


def paired_interval(better: np.ndarray, worse: np.ndarray, draws: int = 10_000) -> tuple[float, float, float]:
    """Mean difference and its 95% bootstrap interval, resampling questions."""
    difference = better - worse
    rng = np.random.default_rng(0)
    means = difference[rng.integers(0, len(difference), (draws, len(difference)))].mean(axis=1)
    return float(difference.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


# Fusion of two rankings (best first), as candidates


def rrf(
    text: Sequence[str], vector: Sequence[str], *, k: int = RRF_K, depth: int = DEPTH, text_weight: float = 0.5
) -> list[str]:
    scores: dict[str, float] = {}
    for weight, ranking in ((text_weight, text), (1 - text_weight, vector)):
        for rank, document in enumerate(ranking[:depth], start=1):
            scores[document] = scores.get(document, 0.0) + 2 * weight / (k + rank)
    return sorted(scores, key=lambda document: -scores[document])


def convex(
    text: Sequence[tuple[str, float]], vector: Sequence[tuple[str, float]], *, text_weight: float, normalise: str
) -> list[str]:
    def normalised(ranking: Sequence[tuple[str, float]]) -> dict[str, float]:
        if not ranking:
            return {}
        values = [score for _, score in ranking]
        high, low = max(values), (min(values) if normalise == "min-max" else 0.0)
        return {document: (max(score, low) - low) / (high - low) if high > low else 1.0 for document, score in ranking}

    text_scores, vector_scores = normalised(text[:DEPTH]), normalised(vector[:DEPTH])
    fused = {
        document: text_weight * text_scores.get(document, 0.0) + (1 - text_weight) * vector_scores.get(document, 0.0)
        for document in text_scores.keys() | vector_scores.keys()
    }
    return sorted(fused, key=lambda document: -fused[document])


# The service


def start_cerebro_up(data_dir: Path, backend: str) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """`cerebro up` on free ports; returns once it says it is up."""
    ports: dict[str, int] = {}
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
    for name in PROCESS_MODULES:
        key = name.upper().replace("-", "_")
        if DEFAULT_PORTS[name][0] is not None:
            ports[name] = free_port()
            environ[f"CEREBRO_{key}_PORT"] = str(ports[name])
            environ[f"CEREBRO_{key}_TARGET"] = f"127.0.0.1:{ports[name]}"
        environ[f"CEREBRO_{key}_METRICS_PORT"] = str(free_port())
    environ.update(
        CEREBRO_GATEWAY_HTTP_PORT=str(free_port()),
        CEREBRO_EMBEDDER_BACKEND=backend,
        CEREBRO_LOG_LEVEL="WARNING",
        CEREBRO_GATEWAY_RATE_LIMIT_PER_SECOND="100000",
        CEREBRO_GATEWAY_RATE_LIMIT_BURST="100000",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "cerebro", "up", "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Cerebro is up"):
            return process, ports
    raise SystemExit(f"cerebro up did not start; see {data_dir / 'logs'}")


@dataclass
class ServiceRuns:
    text: dict[str, list[tuple[str, float]]]
    vector: dict[str, list[tuple[str, float]]]
    hybrid: dict[str, list[str]]
    before: dict[str, list[str]]


async def run_service(collection: Collection, data_dir: Path, ports: dict[str, int]) -> ServiceRuns:
    database_url = (data_dir / "secrets" / "database_url").read_text()
    admin = await asyncpg.connect(database_url)
    try:
        token = (await issue_key(admin, NAMESPACE, label="retrieval-bench")).token
        settings = ClientSettings(target=f"127.0.0.1:{ports['gateway']}", api_key=token, timeout_seconds=60)
        async with AsyncCerebroClient(settings) as client:
            document_of = await remember_all(client, collection)
            await embedded(client, len(document_of))
            runs = await recall_all(client, collection, document_of)
        runs.before = await old_text_ranking(admin, collection, document_of)
    finally:
        await admin.close()
    return runs


async def remember_all(client: AsyncCerebroClient, collection: Collection) -> dict[str, str]:
    """Episode id -> document number."""
    document_of: dict[str, str] = {}
    pending = iter(collection.documents.items())

    async def worker() -> None:
        for number, text in pending:
            response = await client.remember(text, metadata={"cranfield": number})
            document_of[response.episode.episode_id] = number

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    print(f"remembered {len(document_of)} documents in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return document_of


async def embedded(client: AsyncCerebroClient, total: int) -> None:
    started = time.perf_counter()
    while True:
        memory = (await client.stats()).memory
        if memory.episodes_total == total and memory.episodes_embedded == total:
            print(f"all embedded {time.perf_counter() - started:.0f} s later", file=sys.stderr)
            return
        await asyncio.sleep(1)


async def recall_all(client: AsyncCerebroClient, collection: Collection, document_of: dict[str, str]) -> ServiceRuns:
    runs = ServiceRuns({}, {}, {}, {})
    pending = iter(collection.queries.items())

    async def worker() -> None:
        for key, question in pending:
            text = await client.recall(question, mode=episodes_pb2.SEARCH_MODE_TEXT, top_k=DEPTH)
            runs.text[key] = [(document_of[hit.episode.episode_id], hit.text_score) for hit in text.hits]
            vector = await client.recall(question, mode=episodes_pb2.SEARCH_MODE_VECTOR, top_k=DEPTH)
            runs.vector[key] = [(document_of[hit.episode.episode_id], hit.vector_score) for hit in vector.hits]
            hybrid = await client.recall(question, mode=episodes_pb2.SEARCH_MODE_HYBRID, top_k=TOP_K)
            runs.hybrid[key] = [document_of[hit.episode.episode_id] for hit in hybrid.hits]

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return runs


async def old_text_ranking(
    admin: asyncpg.Connection, collection: Collection, document_of: dict[str, str]
) -> dict[str, list[str]]:
    """The text ranking before BM25 (migration 0005's SQL: every word required, ts_rank_cd), same rows."""
    runs = {}
    for key, question in collection.queries.items():
        rows = await admin.fetch(
            """SELECT e.episode_id::text AS id FROM memory.episodes e, websearch_to_tsquery('english', $1) AS q
               WHERE e.namespace = $2 AND e.search_vector @@ q
               ORDER BY ts_rank_cd(e.search_vector, q) DESC, e.episode_id LIMIT $3""",
            question,
            NAMESPACE,
            TOP_K,
        )
        runs[key] = [document_of[row["id"]] for row in rows]
    return runs


# In-process references


@dataclass
class ReferenceRuns:
    bm25: dict[str, list[str]]
    vector: dict[str, list[str]]
    fused: dict[str, list[str]]


def run_references(collection: Collection, backend: str) -> ReferenceRuns:
    numbers = list(collection.documents)
    texts = [collection.documents[number] for number in numbers]
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    bm25: dict[str, list[str]] = {}
    for key, question in collection.queries.items():
        tokens = bm25s.tokenize([question], stopwords="en", stemmer=stemmer, show_progress=False)
        found, scores = retriever.retrieve(tokens, k=DEPTH, show_progress=False)
        bm25[key] = [numbers[index] for index, score in zip(found[0], scores[0], strict=True) if score > 0]
    started = time.perf_counter()
    encoder = Encoder(backend)
    document_vectors = encoder.encode_texts(texts).vectors
    query_vectors = encoder.encode_texts(list(collection.queries.values())).vectors
    print(f"in-process encoder ({backend}): {time.perf_counter() - started:.0f} s", file=sys.stderr)
    similarities = query_vectors @ document_vectors.T
    vector = {
        key: [numbers[index] for index in np.argsort(-similarities[row], kind="stable")[:DEPTH]]
        for row, key in enumerate(collection.queries)
    }
    fused = {key: rrf(bm25[key], vector[key]) for key in collection.queries}
    return ReferenceRuns(bm25, vector, fused)


# Report


def table(rows: list[tuple[str, Scores]], against: Scores | None = None) -> str:
    """A markdown table; with ``against``, a column of nDCG@10 differences with their 95% intervals."""
    header = "| ranking | recall@10 | nDCG@10 | MRR@10 |" + (" nDCG@10 - first row [95%] |" if against else "")
    lines = [header, "|---|---:|---:|---:|" + ("---:|" if against else "")]
    for name, scores in rows:
        line = f"| {name} | {scores.recall:.4f} | {scores.ndcg:.4f} | {scores.mrr:.4f} |"
        if against is not None:
            mean, low, high = paired_interval(scores.per_query_ndcg, against.per_query_ndcg)
            line += f" {mean:+.4f} [{low:+.4f}, {high:+.4f}] |"
        lines.append(line)
    return "\n".join(lines)


def fusion_study(service: ServiceRuns, collection: Collection) -> list[tuple[str, Scores]]:
    """Fusion choices applied to the service's own text and vector rankings (100 candidates each)."""
    text = {key: [number for number, _ in ranking] for key, ranking in service.text.items()}
    vector = {key: [number for number, _ in ranking] for key, ranking in service.vector.items()}

    def by_rank(fuse: Callable[[Sequence[str], Sequence[str]], list[str]]) -> Scores:
        return evaluate({key: fuse(text[key], vector[key]) for key in collection.queries}, collection)

    def by_score(fuse: Callable[[Sequence[tuple[str, float]], Sequence[tuple[str, float]]], list[str]]) -> Scores:
        return evaluate({key: fuse(service.text[key], service.vector[key]) for key in collection.queries}, collection)

    rows = [(f"RRF k {RRF_K}, depth {DEPTH} (the service's)", by_rank(rrf))]
    rows += [(f"RRF k {RRF_K}, depth {depth}", by_rank(partial(rrf, depth=depth))) for depth in (10, 20, 50)]
    rows += [(f"RRF k {k}, depth {DEPTH}", by_rank(partial(rrf, k=k))) for k in (10, 30, 100)]
    rows += [
        (f"weighted RRF, text {weight}", by_rank(partial(rrf, text_weight=weight))) for weight in (0.3, 0.4, 0.6, 0.7)
    ]
    rows += [
        (
            f"convex, {normalise} normalised, text {weight}",
            by_score(partial(convex, text_weight=weight, normalise=normalise)),
        )
        for normalise in ("min-max", "max")
        for weight in (0.3, 0.5, 0.7)
    ]
    return rows


def report(collection: Collection, service: ServiceRuns, references: ReferenceRuns, args: argparse.Namespace) -> None:
    first = {key: [number for number, _ in ranking][:TOP_K] for key, ranking in service.text.items()}
    nearest = {key: [number for number, _ in ranking][:TOP_K] for key, ranking in service.vector.items()}
    text, vector, hybrid = (
        evaluate(first, collection),
        evaluate(nearest, collection),
        evaluate(service.hybrid, collection),
    )
    bm25, reference_vector, reference_fused = (
        evaluate(references.bm25, collection),
        evaluate(references.vector, collection),
        evaluate(references.fused, collection),
    )
    before = evaluate(service.before, collection)
    machine = platform.processor() or platform.machine()
    print(
        f"Cranfield: {len(collection.documents)} documents, {len(collection.queries)} judged questions. "
        f"Machine: {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        f"Service embedder backend {args.backend}, in-process encoder backend {args.reference_backend}.\n"
    )
    print(
        table(
            [
                ("Recall, text (BM25 in PostgreSQL)", text),
                ("Recall, vector (MiniLM, HNSW)", vector),
                ("Recall, hybrid (default)", hybrid),
                ("in-process BM25 (bm25s)", bm25),
                ("in-process MiniLM, exact cosine", reference_vector),
                (f"in-process RRF of the two (k {RRF_K})", reference_fused),
                ("before: every word required, ts_rank_cd (same rows, in SQL)", before),
            ]
        )
    )
    better_half = max(text, vector, key=lambda scores: scores.ndcg)
    print("\nDifferences of nDCG@10 (mean, 95% paired bootstrap interval):\n")
    for name, better, worse in (
        ("text - in-process BM25", text, bm25),
        ("hybrid - better half", hybrid, better_half),
        ("hybrid - in-process RRF", hybrid, reference_fused),
    ):
        mean, low, high = paired_interval(better.per_query_ndcg, worse.per_query_ndcg)
        print(f"- {name}: {mean:+.4f} [{low:+.4f}, {high:+.4f}]")
    print(f"- hybrid over the better half, relative: {hybrid.ndcg / better_half.ndcg - 1:+.1%}")
    print("\nFusion choices on the service's own rankings:\n")
    study = fusion_study(service, collection)
    print(table(study, against=study[0][1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cranfield", type=Path, help="directory with cran.all.1400, cran.qry and cranqrel")
    backends = [backend.value for backend in Backend]
    parser.add_argument(
        "--backend", choices=backends, default=Backend.ONNX.value, help="the service's embedder backend"
    )
    parser.add_argument("--reference-backend", choices=backends, help="the in-process encoder's (default: --backend)")
    args = parser.parse_args()
    args.reference_backend = args.reference_backend or args.backend
    collection = load_cranfield(args.cranfield)
    references = run_references(collection, args.reference_backend)
    with contextlib.ExitStack() as cleanup:
        data_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cerebro-retrieval-")))
        process, ports = start_cerebro_up(data_dir, args.backend)
        try:
            service = asyncio.run(run_service(collection, data_dir, ports))
        finally:
            process.terminate()
            process.wait(timeout=120)
    report(collection, service, references, args)


if __name__ == "__main__":
    main()
