"""ONNX export: a Worker, Drafter or Judge artifact -> prefill.onnx + decode.onnx (+ judge.onnx) + contract.json.

Graphs come from `conversion.graphs` through `torch.onnx.export(dynamo=True)` at opset `OPSET`, fp32,
with dynamic batch, sequence and cache axes. Every export is checked against the torch model with
onnxruntime (`conversion.onnx_parity`) before its contract is written; an export whose logits differ by
more than `PARITY_ATOL` fails.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from conversion.contracts import tensor_spec, write_contract
from conversion.graphs import DecodeGraph, JudgeGraph, PrefillGraph, explicit_caches, io_names
from conversion.source import ConversionError, Source, load_source

OPSET = 23
PARITY_ATOL = 1e-3  # fp32 onnxruntime vs torch, max abs logit error
GRAPH_FILES = {"prefill": "prefill.onnx", "decode": "decode.onnx", "judge": "judge.onnx"}
ONNX_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16"}


def default_out_dir(artifact: str | Path) -> Path:
    """artifacts/worker -> artifacts/onnx/worker (where the service's ONNX backend looks)."""
    path = Path(artifact)
    return path.parent / "onnx" / path.name


def _export(module: nn.Module, args: tuple[Tensor, ...], dynamic: dict[str, Any], inputs: list[str],
            outputs: list[str], path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, args, dynamo=True, dynamic_shapes=dynamic, opset_version=OPSET, input_names=inputs,
            output_names=outputs, verbose=False,
        )
    if program is None:
        raise ConversionError(f"{path}: torch.onnx.export returned no program")
    program.save(str(path))


def export_prefill_decode(source: Source, out_dir: Path) -> None:
    model, cfg = source.model, source.model.config
    names = io_names(cfg.n_layers)
    batch = torch.export.Dim("batch", min=1, max=1024)
    seq = torch.export.Dim("seq", min=1, max=cfg.max_seq_len)
    cache = torch.export.Dim("cache", min=1, max=cfg.max_seq_len)
    tokens = torch.randint(0, cfg.vocab_size, (2, 3))
    with torch.no_grad(), explicit_caches(model, decode=False) as caches:
        _export(PrefillGraph(model, caches), (tokens,), {"tokens": {0: batch, 1: seq}},
                names["prefill_inputs"], names["prefill_outputs"], out_dir / GRAPH_FILES["prefill"])
    positions = torch.tensor([[4, 5, 6], [9, 10, 11]])
    kv = tuple(torch.zeros(2, cfg.n_kv_heads, 16, cfg.d_head) for _ in range(2 * cfg.n_layers))
    dynamic = {"tokens": {0: batch, 1: seq}, "positions": {0: batch, 1: seq},
               "cache_tensors": tuple({0: batch, 2: cache} for _ in kv)}
    with torch.no_grad(), explicit_caches(model, decode=True) as caches:
        _export(DecodeGraph(model, caches), (tokens, positions, *kv), dynamic,
                names["decode_inputs"], names["decode_outputs"], out_dir / GRAPH_FILES["decode"])


def export_judge(source: Source, out_dir: Path) -> None:
    model = source.model
    names = io_names(model.config.n_layers)
    batch = torch.export.Dim("batch", min=1, max=1024)
    seq = torch.export.Dim("seq", min=2, max=model.config.max_seq_len)
    ids = torch.randint(0, model.config.vocab_size, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0
    dynamic = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    with torch.no_grad():
        _export(JudgeGraph(model), (ids, mask), dynamic, names["judge_inputs"], names["judge_outputs"],
                out_dir / GRAPH_FILES["judge"])


def graph_spec(path: Path) -> dict[str, Any]:
    """Inputs and outputs of an ONNX file as the contract lists them."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def spec(value: Any) -> dict[str, Any]:
        t = value.type.tensor_type
        shape = [d.dim_param or d.dim_value for d in t.shape.dim]
        return tensor_spec(value.name, ONNX_DTYPES.get(t.elem_type, str(t.elem_type)), shape)

    return {"file": path.name, "inputs": [spec(v) for v in graph.input], "outputs": [spec(v) for v in graph.output]}


def export_onnx(
    artifact: str | Path, out_dir: str | Path | None = None, *, check_parity: bool = True
) -> dict[str, Any]:
    """Export the artifact's graphs, check them against torch, write the contract; return the contract."""
    from conversion.onnx_parity import parity_report

    source = load_source(artifact)  # refuses bad hashes and roles before any conversion work
    out = Path(out_dir) if out_dir is not None else default_out_dir(artifact)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    export_prefill_decode(source, out)
    graphs = ["prefill", "decode"]
    if source.role == "judge":
        export_judge(source, out)
        graphs.append("judge")
    export_s = time.perf_counter() - started
    contract: dict[str, Any] = {
        "format": "onnx",
        "opset": OPSET,
        "source": source.record(),
        "model": source.model.config.model_dump(mode="json"),
        "cache_layout": "[batch, n_kv_heads, slots, d_head] per layer; decode writes new_k/new_v at positions",
        "graphs": {g: graph_spec(out / GRAPH_FILES[g]) for g in graphs},
        "export_seconds": round(export_s, 2),
    }
    write_contract(out, contract)  # the runtime reads it; rewritten below with the parity numbers
    if check_parity:
        report = parity_report(source, out, graphs)
        contract["parity"] = {**report, "atol": PARITY_ATOL}
        write_contract(out, contract)
        if report["max_abs_logit_error"] > PARITY_ATOL:
            raise ConversionError(
                f"{out}: onnxruntime differs from torch by {report['max_abs_logit_error']:.2e} "
                f"(> {PARITY_ATOL}); see {out / 'contract.json'}"
            )
    return contract
