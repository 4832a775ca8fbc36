"""The model's ONNX graphs: fp32 exported from the PyTorch weights, and int8 quantized from it.

The package ships only safetensors, so the fp32 graph is exported with torch's exporter (which needs the
`onnx` package). The int8 graph stores every weight matrix of the transformer as 8-bit integers in blocks of
`INT8_BLOCK_SIZE` rows, each block with its own scale and zero point (ONNX Runtime's MatMulNBits), and runs
the products in int8: activations are quantized at run time, per token row and block (`accuracy_level` 4).
That is dynamic quantization at a finer grain than `onnxruntime.quantization.quantize_dynamic`, whose one
scale per activation tensor lost too much on this model (cosine to fp32 down to 0.95 on short texts, and a
text's vector changed with the other texts of its batch; docs/benchmarks.md has the figures).
Both builds are deterministic, so their cache keys (see `graph_cache`) name everything they depend on.
"""

from __future__ import annotations

import importlib.metadata
import io
import logging
import warnings
from pathlib import Path

import torch

from services.embedder.graph_cache import digest

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "token_states"
OPSET = 17
# Bump when the export or the quantization below changes, so cached graphs of the old recipe are rebuilt.
EXPORT_REVISION = 1
QUANTIZATION_REVISION = 1
# Rows of a weight matrix sharing one int8 scale: 128 kept every benchmark text at cosine >= 0.993 to fp32
# and was the fastest block size measured; 64 agrees more closely (>= 0.996) but gains less speed.
INT8_BLOCK_SIZE = 128
# The weight files the graph is made of (the tokenizer files are read at run time, not baked in).
_WEIGHT_FILES = ("config.json", "model.safetensors")


def fp32_inputs(model_dir: Path) -> dict[str, str]:
    """What the fp32 graph is built from: the weights' bytes and the exporting libraries."""
    return {
        **{name: digest((model_dir / name).read_bytes()) for name in _WEIGHT_FILES},
        "torch": torch.__version__,
        "transformers": importlib.metadata.version("transformers"),
        "onnx": importlib.metadata.version("onnx"),
        "opset": str(OPSET),
        "revision": str(EXPORT_REVISION),
    }


def int8_inputs(fp32_graph: bytes) -> dict[str, str]:
    """What the int8 graph is built from: the fp32 graph's bytes, the quantizer and its settings."""
    return {
        "fp32": digest(fp32_graph),
        "onnxruntime": importlib.metadata.version("onnxruntime"),
        "onnx": importlib.metadata.version("onnx"),
        "block_size": str(INT8_BLOCK_SIZE),
        "revision": str(QUANTIZATION_REVISION),
    }


def export_fp32(model_dir: Path) -> bytes:
    """The BERT encoder as ONNX bytes, with dynamic batch and sequence axes."""
    from transformers import AutoModel

    # Eager attention and a padded example input, so the traced graph keeps the attention-mask path.
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True).eval()
    example = torch.ones((2, 8), dtype=torch.long)
    mask = example.clone()
    mask[1, 4:] = 0
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    buffer = io.BytesIO()
    # The tracer warns about shape checks it freezes into constants; they do not depend on the input
    # here, and the tests compare the exported graph's vectors with PyTorch's on padded batches.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(bert),
            (example, mask, torch.zeros_like(example)),
            buffer,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def quantize_int8(fp32_graph: bytes) -> bytes:
    """The int8 graph of `fp32_graph`: every constant-weight MatMul as an 8-bit MatMulNBits."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # The quantizer logs a line per graph node at INFO.
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    quantizer = MatMulNBitsQuantizer(
        onnx.load_from_string(fp32_graph),
        bits=8,
        block_size=INT8_BLOCK_SIZE,
        is_symmetric=False,
        accuracy_level=4,
        op_types_to_quantize=("MatMul",),
    )
    quantizer.process()
    graph: bytes = quantizer.model.model.SerializeToString()
    return graph


class _LastHiddenState(torch.nn.Module):
    """Keyword-only call and a plain tensor output, which torch's ONNX tracer needs."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        states: torch.Tensor = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return states
