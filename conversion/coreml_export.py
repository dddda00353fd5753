"""Core ML export: mlprogram packages with INT8 weights and FP16 compute, minimum target macOS 15 / iOS 18.

Worker and Drafter: a stateful multifunction package. The KV cache is model state (`ct.StateType`,
fp16 [1, Hkv, S, Dh] per layer and K/V); state shapes cannot be flexible, so each context length S in
`CONTEXT_LENGTHS` (up to the model's max_seq_len) is its own fixed-shape function `step_<S>`, and
`save_multifunction` keeps one copy of the weights for all of them. A step takes STEP_TOKENS tokens at
consecutive positions: prefill runs in chunks, decoding pads a single token (the pad slots lie beyond
the current position, so the causal mask hides them and the next write overwrites them), speculative
verification sends gamma + 1 tokens. A row therefore holds at most S - STEP_TOKENS + 1 real tokens.

Judge: one function whose input_ids take `ct.EnumeratedShapes` of 512/1024/2048 tokens (right-padded),
with `length` naming the last real token; outputs score [1] and clause_logits [1, 5].

Every package: fp16 compute except the RMSNorm statistics (pow, mean, rsqrt stay fp32: precision
islands), then `coremltools.optimize.coreml.linear_quantize_weights` (int8, per-channel symmetric).
Conversion goes through `torch.export` (coremltools' TorchScript frontend cannot trace our RoPE split on
torch 2.13). Conversion runs on Linux; loading and predicting needs macOS (see conversion.probes).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from conversion.contracts import tensor_spec, write_contract
from conversion.source import ConversionError, Source, load_source
from modeling.model import Transformer, write_then_attend

CONTEXT_LENGTHS = (512, 1024, 2048)
JUDGE_LENGTHS = (512, 1024, 2048)
STEP_TOKENS = 8
FP32_OPS = frozenset({"pow", "reduce_mean", "rsqrt"})  # RMSNorm statistics: precision islands
FLOAT_CONSTS = ("rope_cos", "rope_sin", "rope_rotate")  # tables, not weights: quantizing would perturb every angle
WEIGHT_THRESHOLD = 512  # quantize every matrix of at least this many elements (tiny configs included)
PACKAGE = "model.mlpackage"
MIN_TARGET = "macOS15 / iOS18"


def _ct() -> Any:
    try:
        import coremltools
    except ImportError as exc:  # an optional extra: pip install 'kimi-student[coreml]'
        raise ConversionError(f"Core ML export needs coremltools (pip install 'kimi-student[coreml]'): {exc}") from None
    return coremltools


def default_out_dir(artifact: str | Path) -> Path:
    """artifacts/worker -> artifacts/coreml/worker."""
    path = Path(artifact)
    return path.parent / "coreml" / path.name


class StateKV(nn.Module):
    """The KV cache as registered buffers written in place: coremltools turns them into model state."""

    def __init__(self, n_kv_heads: int, slots: int, d_head: int):
        super().__init__()
        self.register_buffer("k", torch.zeros(1, n_kv_heads, slots, d_head))
        self.register_buffer("v", torch.zeros(1, n_kv_heads, slots, d_head))

    def update(
        self, input_pos: Tensor, k: Tensor, v: Tensor, row0: int = 0, kv_len: int | None = None
    ) -> tuple[Tensor, Tensor]:
        # scatter along the slot axis: coremltools lowers it to scatter_along_axis on the state (its
        # index_put lowering handles a single position only)
        index = input_pos.long()[None, None, :, None].expand_as(k)
        self.k.scatter_(2, index, k)
        self.v.scatter_(2, index, v)
        return self.k, self.v

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, input_pos: Tensor, row0: int = 0,
        kv_len: int | None = None,
    ) -> Tensor:
        return write_then_attend(self.update, q, k, v, bias, input_pos, row0, kv_len)


class StepGraph(nn.Module):
    """tokens [1, STEP_TOKENS] at positions [STEP_TOKENS] -> logits [1, STEP_TOKENS, V]; K/V into the state."""

    def __init__(self, model: Transformer):
        super().__init__()
        self.decoder = model

    def forward(self, tokens: Tensor, positions: Tensor) -> Tensor:
        return self.decoder(tokens, positions)


class JudgeGraph(nn.Module):
    """input_ids [1, T] right-padded, length [1] real tokens -> score [1], clause_logits [1, 5]."""

    def __init__(self, model: Transformer):
        super().__init__()
        self.decoder = model

    def forward(self, input_ids: Tensor, length: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.decoder.hidden_states(input_ids)  # causal: right padding never reaches real tokens
        pooled = torch.index_select(hidden[0], 0, length - 1)  # [1, D]
        heads = self.decoder.judge_heads
        return heads.score(pooled).squeeze(-1), heads.clause(pooled)


def state_name(layer: int, kv: str) -> str:
    """The state's name: coremltools names it after the buffer's path in StepGraph."""
    return f"decoder_model_layers_{layer}_self_attn_kv_cache_{kv}"


def _compute_precision(ct: Any) -> Any:
    return ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type not in FP32_OPS)


def _quantize(ct: Any, mlmodel: Any) -> Any:
    """INT8 weights (per-channel symmetric); the RoPE tables stay fp16."""
    import coremltools.optimize.coreml as cto

    keep = {
        op.name: None
        for function in mlmodel._mil_program.functions.values()
        for op in function.operations
        if op.op_type == "const" and any(name in op.name for name in FLOAT_CONSTS)
    }
    weights = cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=WEIGHT_THRESHOLD
    )
    config = cto.OptimizationConfig(global_config=weights, op_name_configs=keep)
    return cto.linear_quantize_weights(mlmodel, config=config)


def _convert(ct: Any, program: torch.export.ExportedProgram, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.convert(
            program, convert_to="mlprogram", minimum_deployment_target=ct.target.macOS15,
            compute_precision=_compute_precision(ct), skip_model_load=True, **kwargs,
        )


@contextmanager
def state_caches(model: Transformer, slots: int) -> Iterator[StepGraph]:
    """The model with `StateKV` caches of `slots` slots, as the step program; the old caches come back after."""
    cfg = model.config
    saved = [layer.self_attn.kv_cache for layer in model.model.layers], model.cache_batch_size, model.cache_seq_len
    try:
        for layer in model.model.layers:
            layer.self_attn.kv_cache = StateKV(cfg.n_kv_heads, slots, cfg.d_head)
        model.cache_batch_size, model.cache_seq_len = 1, slots
        yield StepGraph(model).eval()
    finally:
        for layer, cache in zip(model.model.layers, saved[0], strict=True):
            layer.self_attn.kv_cache = cache
        model.cache_batch_size, model.cache_seq_len = saved[1], saved[2]


def step_function(ct: Any, source: Source, slots: int, path: Path) -> None:
    """Convert, quantize and save the fixed-shape step program of context length `slots`."""
    cfg = source.model.config
    tokens = torch.zeros(1, STEP_TOKENS, dtype=torch.int32)
    positions = torch.arange(STEP_TOKENS, dtype=torch.int32)
    with state_caches(source.model, slots) as graph, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(graph, (tokens, positions)).run_decompositions({})
    mlmodel = _convert(ct, program, outputs=[ct.TensorType(name="logits")])
    expected = {state_name(i, kv) for i in range(cfg.n_layers) for kv in "kv"}
    found = {state.name for state in mlmodel.get_spec().description.state}
    if found != expected:
        raise ConversionError(f"Core ML states {sorted(found)} are not the expected {sorted(expected)}")
    _quantize(ct, mlmodel).save(str(path))


def judge_function(ct: Any, source: Source, path: Path) -> None:
    model = source.model
    lengths = [n for n in JUDGE_LENGTHS if n <= model.config.max_seq_len]
    if not lengths:
        raise ConversionError(f"judge max_seq_len {model.config.max_seq_len} is below every enumerated length")
    seq = torch.export.Dim("seq", min=min(lengths), max=max(lengths))
    ids = torch.zeros(1, lengths[0], dtype=torch.int32)
    length = torch.tensor([lengths[0]], dtype=torch.int32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(JudgeGraph(model).eval(), (ids, length),
                                      dynamic_shapes={"input_ids": {1: seq}, "length": None})
        program = program.run_decompositions({})
    inputs = [
        ct.TensorType(name="input_ids", shape=ct.EnumeratedShapes(shapes=[[1, n] for n in lengths],
                                                                  default=[1, lengths[0]]), dtype=np.int32),
        ct.TensorType(name="length", shape=(1,), dtype=np.int32),
    ]
    outputs = [ct.TensorType(name="score"), ct.TensorType(name="clause_logits")]
    mlmodel = _convert(ct, program, inputs=inputs, outputs=outputs)
    _quantize(ct, mlmodel).save(str(path))


def export_coreml(
    artifact: str | Path, out_dir: str | Path | None = None, *, lengths: tuple[int, ...] = CONTEXT_LENGTHS
) -> dict[str, Any]:
    """Write model.mlpackage and contract.json under out_dir; return the contract."""
    source = load_source(artifact)  # refuses bad hashes and roles before any conversion work
    ct = _ct()
    out = Path(out_dir) if out_dir is not None else default_out_dir(artifact)
    out.mkdir(parents=True, exist_ok=True)
    package = out / PACKAGE
    started = time.perf_counter()
    if source.role == "judge":
        if package.exists():
            shutil.rmtree(package)
        judge_function(ct, source, package)
        functions = {"main": judge_contract(source)}
    else:
        functions = stateful_package(ct, source, package, lengths)
    contract = {
        "format": "coreml",
        "package": PACKAGE,
        "minimum_deployment_target": MIN_TARGET,
        "compute_precision": "float16",
        "fp32_ops": sorted(FP32_OPS),
        "weights": "int8 linear_symmetric per-channel",
        "source": source.record(),
        "model": source.model.config.model_dump(mode="json"),
        "step_tokens": STEP_TOKENS if source.role != "judge" else None,
        "functions": functions,
        "export_seconds": round(time.perf_counter() - started, 2),
    }
    write_contract(out, contract)
    return contract


def stateful_package(ct: Any, source: Source, package: Path, lengths: tuple[int, ...]) -> dict[str, Any]:
    cfg = source.model.config
    usable = [n for n in lengths if n <= cfg.max_seq_len]
    if not usable:
        raise ConversionError(f"no context length in {lengths} fits max_seq_len {cfg.max_seq_len}")
    functions: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coreml-", dir=package.parent) as tmp:
        desc = ct.utils.MultiFunctionDescriptor()
        for slots in usable:
            path = Path(tmp) / f"step_{slots}.mlpackage"
            step_function(ct, source, slots, path)
            desc.add_function(str(path), src_function_name="main", target_function_name=f"step_{slots}")
            functions[f"step_{slots}"] = step_contract(source, slots)
        desc.default_function_name = f"step_{usable[0]}"
        if package.exists():
            shutil.rmtree(package)
        ct.utils.save_multifunction(desc, str(package))
    return functions


def step_contract(source: Source, slots: int) -> dict[str, Any]:
    cfg = source.model.config
    cache = [1, cfg.n_kv_heads, slots, cfg.d_head]
    return {
        "inputs": [tensor_spec("tokens", "int32", [1, STEP_TOKENS]), tensor_spec("positions", "int32", [STEP_TOKENS])],
        "outputs": [tensor_spec("logits", "float16", [1, STEP_TOKENS, cfg.vocab_size])],
        "states": [tensor_spec(state_name(i, kv), "float16", cache) for i in range(cfg.n_layers) for kv in "kv"],
    }


def judge_contract(source: Source) -> dict[str, Any]:
    lengths = [n for n in JUDGE_LENGTHS if n <= source.model.config.max_seq_len]
    return {
        "inputs": [tensor_spec("input_ids", "int32", [1, lengths]), tensor_spec("length", "int32", [1])],
        "outputs": [tensor_spec("score", "float16", [1]), tensor_spec("clause_logits", "float16", [1, 5])],
        "states": [],
    }
