"""The service's Core ML backend: its own logic on Linux, the real Core ML runtime on macOS 15+.

The Core ML runtime exists only on macOS, so here `CoreMLBackend` drives a stand-in for the loaded
functions: `TorchStepFunction` runs the very step program that `export_coreml` converts
(`conversion.coreml_export.state_caches`) in torch, on per-state buffers named like the Core ML states.
Chunking, padding, per-row states, positions, copy_row and the choice of function are then checked
against the torch backend's logits and greedy tokens (fp32 on both sides). The startup refusals (off
macOS, missing or stale exports) run everywhere; the package itself is exercised on macOS only.
"""

from __future__ import annotations

import copy
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conversion.contracts import StaleExportError, write_contract
from conversion.coreml_export import STEP_TOKENS, state_caches, state_name
from conversion.probes import can_predict_coreml
from kimi_student.cli import main
from modeling.checkpoint import load_artifact
from modeling.model import Transformer
from service.engine import coreml_backend
from service.engine.backend import TorchBackend
from service.engine.core import Engine, Request
from service.engine.coreml_backend import CoreMLBackend, CoreMLUnavailableError
from service.engine.params import GenerationParams, SamplingParams, StepOutput
from service.models import ModelSet, SetupError, read_manifest
from service.settings import Settings, parse_backends
from tests.service.conftest import tiny_pair

END = 2
LENGTHS = (64, 128)  # small step functions: capacities 57 and 121 real tokens per row


pytestmark = pytest.mark.usefixtures("one_thread")


# ---- the stand-in for the Core ML runtime ---------------------------------------------------------


class TensorState:
    """Stand-in for `coremltools.models.model.MLState`: one buffer per state name."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        self.tensors = {name: torch.zeros(shape) for name, shape in shapes.items()}

    def read_state(self, name: str) -> np.ndarray:
        return self.tensors[name].numpy().copy()

    def write_state(self, name: str, value: np.ndarray) -> None:
        self.tensors[name].copy_(torch.from_numpy(value))


class TorchStepFunction:
    """Stand-in for the loaded function `step_<slots>`: the converted StepGraph, run in torch (fp32)."""

    def __init__(self, model: Transformer, slots: int):
        self.model, self.slots = model, slots
        cfg = model.config
        self.shapes = {state_name(i, kv): (1, cfg.n_kv_heads, slots, cfg.d_head)
                       for i in range(cfg.n_layers) for kv in "kv"}
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def make_state(self) -> TensorState:
        return TensorState(self.shapes)

    @torch.no_grad()
    def predict(self, data: dict[str, np.ndarray], state: TensorState | None = None) -> dict[str, np.ndarray]:
        assert state is not None and data["tokens"].shape == (1, STEP_TOKENS) and data["tokens"].dtype == np.int32
        assert data["positions"].shape == (STEP_TOKENS,) and data["positions"].dtype == np.int32
        self.calls.append((data["tokens"].copy(), data["positions"].copy()))
        with state_caches(self.model, self.slots) as graph:
            for i, layer in enumerate(self.model.model.layers):  # the caches become this state's buffers
                layer.self_attn.kv_cache.k = state.tensors[state_name(i, "k")]
                layer.self_attn.kv_cache.v = state.tensors[state_name(i, "v")]
            logits = graph(torch.from_numpy(data["tokens"]), torch.from_numpy(data["positions"]))
        return {"logits": logits.numpy()}


def stand_in(model: Transformer, lengths: tuple[int, ...] = LENGTHS) -> tuple[CoreMLBackend, list[int]]:
    """A CoreMLBackend over torch step functions of `model`; the list records which functions were loaded."""
    model, loaded, functions = copy.deepcopy(model), [], {}

    def load(slots: int) -> TorchStepFunction:
        loaded.append(slots)
        functions[slots] = TorchStepFunction(model, slots)
        return functions[slots]

    cfg = model.config
    names = [state_name(i, kv) for i in range(cfg.n_layers) for kv in "kv"]
    return CoreMLBackend(load, lengths, names, cfg.vocab_size, cfg.pad_token_id), loaded


@pytest.fixture(scope="module")
def pair() -> tuple[Transformer, Transformer]:
    (worker, _), (drafter, _) = tiny_pair()
    return worker, drafter


def prompts(count: int, longest: int = 40) -> list[list[int]]:
    g = torch.Generator().manual_seed(11)
    lengths = [1, 8, 9, *torch.randint(2, longest, (count,), generator=g).tolist()][:count]
    return [torch.randint(11, 512, (n,), generator=g).tolist() for n in lengths]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


# ---- the backend's own logic against the torch backend -------------------------------------------------


def test_prefill_matches_torch_for_prompts_shorter_and_longer_than_a_step(pair) -> None:
    """Prompts of 1, 8, 9 and up to 40 tokens: the last position's logits are torch's."""
    worker, _ = pair
    expected, (actual, _) = TorchBackend(copy.deepcopy(worker)), stand_in(worker)
    for backend in (expected, actual):
        backend.allocate(2, 100)
    for p in prompts(6):
        tokens = torch.tensor([p])
        assert actual.prefill(tokens, 1).shape == (1, 512)
        assert max_diff(actual.prefill(tokens, 1), expected.prefill(tokens, 1)) < 1e-4, len(p)


def test_rows_at_different_positions_decode_on_their_own_states(pair) -> None:
    """Three rows prefilled to different lengths, then batched forwards of 1 and 5 tokens per row (a
    speculative burst), row0 = 1: every position's logits equal the torch backend's."""
    worker, _ = pair
    expected, (actual, _) = TorchBackend(copy.deepcopy(worker)), stand_in(worker)
    ps = prompts(3, longest=30)
    for backend in (expected, actual):
        backend.allocate(4, 100)
        for row, p in enumerate(ps, start=1):
            backend.prefill(torch.tensor([p]), row)
    lengths = torch.tensor([len(p) for p in ps])
    g = torch.Generator().manual_seed(3)
    for width in (1, 5, 12):
        tokens = torch.randint(11, 512, (3, width), generator=g)
        positions = lengths[:, None] + torch.arange(width)
        got, want = actual.forward(tokens, positions, row0=1), expected.forward(tokens, positions, row0=1)
        assert got.dtype == torch.float32 and got.shape == (3, width, 512)
        assert max_diff(got, want) < 1e-4, width
        lengths += width


def test_copy_row_copies_every_state(pair) -> None:
    worker, _ = pair
    expected, (actual, _) = TorchBackend(copy.deepcopy(worker)), stand_in(worker)
    p = prompts(4)[3]
    step, position = torch.tensor([[7, 8]]), torch.tensor([[len(p), len(p) + 1]])
    for backend in (expected, actual):
        backend.allocate(3, 100)
        backend.prefill(torch.tensor([p]), 0)
        backend.copy_row(0, 2)
    assert max_diff(actual.forward(step, position, row0=2), expected.forward(step, position, row0=2)) < 1e-4
    for name in actual.state_names:  # the source row is untouched by the copy's decoding
        assert not np.array_equal(actual.states[0].read_state(name), actual.states[2].read_state(name))


def test_the_last_chunk_is_padded_at_the_positions_that_follow(pair) -> None:
    worker, _ = pair
    backend, _ = stand_in(worker)
    backend.allocate(1, 50)
    backend.prefill(torch.tensor([list(range(20, 31))]), 0)  # 11 tokens: a full chunk and 3 real + 5 pad
    calls = backend.function.calls
    assert [c[1].tolist() for c in calls] == [list(range(8)), list(range(8, 16))]
    assert calls[0][0].tolist() == [list(range(20, 28))]
    assert calls[1][0].tolist() == [[28, 29, 30] + [worker.config.pad_token_id] * 5]
    backend.forward(torch.tensor([[5]]), torch.tensor([[11]]))  # one decode token: one call at 11..18
    assert calls[-1][1].tolist() == list(range(11, 19)) and calls[-1][0][0, 0] == 5


def test_allocate_picks_the_smallest_function_that_holds_the_rows(pair) -> None:
    """Capacity S - STEP_TOKENS + 1: step_64 holds 57 tokens, step_128 holds 121 (the backend's maximum)."""
    worker, _ = pair
    backend, loaded = stand_in(worker)
    assert backend.max_seq_len == 128 - STEP_TOKENS + 1
    backend.allocate(2, 57)
    assert (backend.slots, len(backend.states), loaded) == (64, 2, [64])
    backend.allocate(2, 40)  # already big enough: the states (and their caches) stay
    assert (backend.slots, loaded) == (64, [64])
    backend.allocate(3, 58)
    assert (backend.slots, len(backend.states), loaded) == (128, 3, [64, 128])
    with pytest.raises(ValueError, match=r"exceeds the Core ML rows' capacity 121 \(step_128"):
        backend.allocate(1, 122)


def test_positions_past_the_capacity_or_out_of_order_are_refused(pair) -> None:
    worker, _ = pair
    backend, _ = stand_in(worker)
    backend.allocate(1, 57)
    backend.forward(torch.tensor([[3]]), torch.tensor([[56]]))  # the last slot a row can hold
    with pytest.raises(ValueError, match=r"position 57 does not fit step_64: a row holds 57 tokens"):
        backend.forward(torch.tensor([[3]]), torch.tensor([[57]]))
    with pytest.raises(ValueError, match="consecutive positions"):
        backend.forward(torch.tensor([[3, 4]]), torch.tensor([[5, 7]]))


def greedy(worker, drafter, speculative: str, prompt_list: list[list[int]], max_tokens: int = 24,
           max_num_seqs: int = 4, accepted: list[int] | None = None) -> dict[int, list[int]]:
    """Greedy tokens per prompt; `accepted` collects each choice's accepted drafts (speculative "parallel":
    the drafter used as a parallel drafter guessing three tokens past the next one)."""
    parallel = 3 if speculative == "parallel" else 0
    speculative = "draft" if parallel else speculative
    engine = Engine(worker, end_id=END, max_num_seqs=max_num_seqs, max_queue=64, max_model_len=121,
                    speculative=speculative, drafter=drafter if speculative == "draft" else None,
                    num_speculative_tokens=4, parallel_draft=parallel)
    outs: dict[int, list[StepOutput]] = {i: [] for i in range(len(prompt_list))}
    for i, p in enumerate(prompt_list):
        params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True, seed=i))
        engine.add_request(Request(str(i), p, params, outs[i].append))
    engine.run_until_idle()
    if accepted is not None:
        accepted += [sum(o.accepted for o in v) for v in outs.values()]
    return {i: [t for o in v for t in o.tokens] for i, v in outs.items()}


@pytest.mark.parametrize("speculative", ["off", "draft", "parallel"])
def test_engine_greedy_tokens_equal_torch(pair, speculative: str) -> None:
    """7 prompts (1 to 40 tokens) on 4 rows: continuous batching moves rows (copy_row) and decodes rows at
    different positions; plain and with the drafter (verification bursts of up to 5 tokens; a parallel
    drafter's calls of up to 8 tokens), the same drafts accepted as with torch."""
    worker, drafter = pair
    ps = prompts(7)
    accepted: tuple[list[int], list[int]] = ([], [])
    expected = greedy(TorchBackend(copy.deepcopy(worker)), TorchBackend(copy.deepcopy(drafter)), speculative, ps,
                      accepted=accepted[0])
    actual = greedy(stand_in(worker)[0], stand_in(drafter)[0], speculative, ps, accepted=accepted[1])
    assert actual == expected
    assert accepted[0] == accepted[1]
    assert all(len(v) == 24 for v in actual.values())


def test_n_samples_copy_the_prompt_row(pair) -> None:
    """n=3 greedy samples of one prompt: the prefilled row is copied to two more; all three equal torch's."""
    worker, _ = pair
    outs: dict[str, list[int]] = {}
    for kind, backend in (("torch", TorchBackend(copy.deepcopy(worker))), ("coreml", stand_in(worker)[0])):
        engine = Engine(backend, end_id=END, max_num_seqs=4, max_queue=4, max_model_len=121, speculative="off")
        got: list[StepOutput] = []
        params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=12, ignore_eos=True, n=3, seed=0))
        engine.add_request(Request("n", prompts(4)[3], params, got.append))
        engine.run_until_idle()
        outs[kind] = [t for o in sorted(got, key=lambda o: o.index) for t in o.tokens]
    assert outs["coreml"] == outs["torch"] and len(outs["torch"]) == 36


# ---- configuration and startup refusals (every platform) ----------------------------------------------


def test_backend_settings_accept_coreml() -> None:
    assert parse_backends("coreml") == ("coreml", {})
    assert parse_backends("torch, worker=coreml,drafter=coreml") == ("torch", {"worker": "coreml",
                                                                             "drafter": "coreml"})
    s = Settings(backend="onnx,drafter=coreml", coreml_dir=Path("/exports/cm"))
    assert [s.backend_for(r) for r in ("worker", "drafter")] == ["onnx", "coreml"]
    assert s.export_dir("drafter", "coreml") == Path("/exports/cm/drafter")
    assert Settings(artifacts=Path("arts")).export_dir("worker", "coreml") == Path("arts/coreml/worker")


@pytest.fixture(scope="module")
def served(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four artifacts, with contracts of Core ML exports of the worker's and drafter's weights where
    the service looks (the package itself is not needed before loading)."""
    root = tmp_path_factory.mktemp("coreml-serving")
    for role in ("worker", "drafter", "judge", "teacher"):
        shutil.copytree(artifacts / role, root / role)
    for role in ("worker", "drafter"):
        fake_export(root / "coreml" / role, read_manifest(root / role))
    return root


def fake_export(out: Path, manifest: dict, fmt: str = "coreml") -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_contract(out, {"format": fmt, "source": {"weights_sha256": manifest["weights_sha256"]}})


def here() -> str:
    return "macOS" if sys.platform == "darwin" else platform.system()


@pytest.mark.skipif(can_predict_coreml(), reason="this machine runs Core ML: nothing to refuse")
def test_serving_coreml_off_macos_is_refused_at_startup(served: Path, capsys) -> None:
    with pytest.raises(SetupError, match=rf"--backend coreml \(worker, drafter\): .*macOS 15\+.*{here()}"):
        ModelSet(Settings(artifacts=served, backend="coreml"), metrics=None).check()
    with pytest.raises(SetupError, match=r"--backend coreml \(drafter\)"):  # the worker's drafter
        ModelSet(Settings(artifacts=served, backend="drafter=coreml", models=["worker"]), metrics=None).check()
    ModelSet(Settings(artifacts=served, backend="coreml", speculative="off", models=["judge"]), metrics=None).check()
    assert main(["serve", "--artifacts", str(served), "--backend", "worker=coreml", "--port", "0"]) == 2
    assert f"needs macOS 15+ (Core ML stateful prediction); this machine runs {here()}" in capsys.readouterr().err


@pytest.mark.skipif(can_predict_coreml(), reason="this machine runs Core ML: nothing to refuse")
def test_from_export_refuses_off_macos_and_stale_exports(served: Path) -> None:
    with pytest.raises(CoreMLUnavailableError, match=f"needs macOS 15.*{here()}"):
        CoreMLBackend.from_export(served / "coreml" / "worker", read_manifest(served / "worker"))
    with pytest.raises(StaleExportError, match="exported from weights"):
        CoreMLBackend.from_export(served / "coreml" / "drafter", read_manifest(served / "worker"))
    with pytest.raises(StaleExportError, match="no Core ML export"):
        CoreMLBackend.from_export(served / "coreml" / "judge", read_manifest(served / "judge"))


def test_service_checks_coreml_exports_like_onnx(served: Path, tmp_path: Path, monkeypatch, caplog) -> None:
    """As if on macOS 15+: the judge and teacher are left out; a missing, stale or ONNX export is refused
    with the command to run; only the roles on coreml need an export."""
    monkeypatch.setattr(coreml_backend, "runtime_problem", lambda: None)
    models = ModelSet(Settings(artifacts=served, backend="coreml"), metrics=None)
    models.check()
    assert models.roles == ["worker", "drafter"] and "not serving ['judge', 'teacher']" in caplog.text
    root = tmp_path / "artifacts"
    shutil.copytree(served, root)
    shutil.rmtree(root / "coreml" / "worker")
    ModelSet(Settings(artifacts=root, backend="torch,drafter=coreml"), metrics=None).check()
    settings = Settings(artifacts=root, backend="coreml", models=["worker"])
    with pytest.raises(SetupError, match=r"no Core ML export at .*coreml/worker; run `kimi-student export coreml "
                                         r"--artifact .*worker --out .*coreml/worker`"):
        ModelSet(settings, metrics=None).check()
    fake_export(root / "coreml" / "worker", read_manifest(root / "drafter"))  # other weights
    with pytest.raises(SetupError, match="exported from weights"):
        ModelSet(settings, metrics=None).check()
    fake_export(root / "coreml" / "worker", read_manifest(root / "worker"), fmt="onnx")
    with pytest.raises(SetupError, match="holds a 'onnx' export, not Core ML"):
        ModelSet(settings, metrics=None).check()
    elsewhere = tmp_path / "cm"
    fake_export(elsewhere / "worker", read_manifest(root / "worker"))
    fake_export(elsewhere / "drafter", read_manifest(root / "drafter"))
    ModelSet(Settings(artifacts=root, backend="coreml", coreml_dir=elsewhere), metrics=None).check()


# ---- the real package (macOS 15+ only) ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not can_predict_coreml(), reason="Core ML predictions need macOS 15+; coremltools cannot "
                                                     "predict here")
def test_exported_worker_greedy_tokens_equal_torch_on_macos(artifacts: Path, tmp_path: Path) -> None:
    """`export_coreml` of the tiny worker (step_512, step_1024; int8 weights, fp16 compute), served through
    CoreMLBackend on the CPU: the greedy tokens of 4 prompts (1 to 40 tokens) equal the torch backend's."""
    pytest.importorskip("coremltools", reason="the coreml extra is not installed")
    from conversion.coreml_export import export_coreml

    export_coreml(artifacts / "worker", tmp_path / "worker")
    backend = CoreMLBackend.from_export(tmp_path / "worker", read_manifest(artifacts / "worker"),
                                        compute_units="CPU_ONLY")
    assert backend.max_seq_len == 1024 - STEP_TOKENS + 1
    torch_worker = TorchBackend(load_artifact(artifacts / "worker", role="worker")[0])
    ps = prompts(4)
    assert greedy(backend, None, "off", ps, max_tokens=16) == greedy(torch_worker, None, "off", ps, max_tokens=16)
