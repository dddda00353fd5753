"""Role configs: one YAML file per model, validated before anything is built or trained.

A role config has three sections, each a strict pydantic model (`extra="forbid"` at every level, so
a misspelt or stale key is an error that names it instead of a silently ignored setting):

    model:     the architecture (`ModelConfig`), the only input of `modeling.model.Transformer`
    training:  optimiser, schedule and sequence-length curriculum (`TrainingConfig`)
    role:      worker | judge | drafter | teacher

Cross-field rules (heads divide evenly, `d_head * n_heads == d_model`, special ids inside the
vocabulary, curriculum lengths within `max_seq_len`, judge heads exactly on the judge) are
validators, so an invalid file fails at load time, before any training starts.

Named configs live in `configs/<name>.yaml`; `PROFILES` maps a profile and a role to one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

Role = Literal["worker", "judge", "drafter", "teacher"]

# Named configs per profile and role. "tiny" is for tests, "toy" trains on a 2-core CPU in minutes,
# "real" holds the seed's sizes (trained on a GPU box).
PROFILES: dict[str, dict[str, str]] = {
    "tiny": {r: f"{r}_tiny" for r in ("worker", "judge", "drafter", "teacher")},
    "toy": {r: f"{r}_toy" for r in ("worker", "judge", "drafter", "teacher")},
    "real": {"worker": "worker_9b", "judge": "judge_4b", "drafter": "drafter_4b"},
    # QAT variants (training.qat): `make qat` fine-tunes a trained worker into an int8 artifact.
    "tiny_qat": {"worker": "worker_tiny_qat"},
    "toy_qat": {"worker": "worker_toy_qat"},
    # KD variants (training.kd): `make worker` distils the worker from a KD mix; `make proc` raises the
    # process-supervision weights for a short fine-tune of a trained worker.
    "tiny_kd": {"worker": "worker_tiny_kd"},
    "toy_kd": {"worker": "worker_toy_kd"},
    "toy_proc": {"worker": "worker_toy_proc"},
}

N_CLAUSES = 5  # CAWS clauses scored by the judge's clause head (see CONTRACTS.md, judge pair format)


class ConfigError(ValueError):
    """A role config that cannot be read or does not validate; the message names file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinearRopeScaling(_Strict):
    """Position interpolation: every inverse frequency is divided by `factor`."""

    type: Literal["linear"]
    factor: float = Field(gt=1.0)


class Llama3RopeScaling(_Strict):
    """Llama 3.1 scaling: low frequencies divided by `factor`, high ones kept, a smooth ramp between."""

    type: Literal["llama3"]
    factor: float = Field(gt=1.0)
    low_freq_factor: float = Field(default=1.0, gt=0.0)
    high_freq_factor: float = Field(default=4.0, gt=0.0)
    original_max_position_embeddings: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Llama3RopeScaling:
        if self.high_freq_factor <= self.low_freq_factor:
            raise ValueError("rope_scaling.high_freq_factor must be greater than low_freq_factor")
        return self


RopeScaling = Annotated[LinearRopeScaling | Llama3RopeScaling, Field(discriminator="type")]


class ModelConfig(_Strict):
    """Architecture of the GQA decoder. Every field is read by `Transformer`; none is derived."""

    vocab_size: int = Field(gt=0)
    d_model: int = Field(gt=0)
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    d_head: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)  # SwiGLU hidden width; no implied multiple of d_model
    max_seq_len: int = Field(gt=0)  # longest absolute position (RoPE table, KV cache bound)
    rope_theta: float = Field(default=10000.0, gt=0.0)
    rope_scaling: RopeScaling | None = None
    norm_eps: float = Field(default=1e-5, gt=0.0)
    tie_embeddings: bool = False
    judge_heads: bool = False  # score (1) + clause (N_CLAUSES) heads on the last real token
    # With judge_heads: a 3-way head (support / contradict / insufficient) for claimify's evidence triage.
    entailment_head: bool = False
    # A parallel drafter (PARD): besides the next token it predicts the `parallel_draft` tokens after it
    # in the same forward, from that many pad tokens placed at the positions after the last real one
    # (service/engine/core.py, training/parallel_draft.py). 0: an autoregressive drafter.
    parallel_draft: int = Field(default=0, ge=0)
    # Ids fixed by the tokenizer's special-token order (modeling.chat: PAD, BOS, END first).
    pad_token_id: int = Field(default=0, ge=0)
    bos_token_id: int = Field(default=1, ge=0)
    eos_token_id: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.d_head * self.n_heads != self.d_model:
            raise ValueError(
                f"d_head * n_heads ({self.d_head} * {self.n_heads}) must equal d_model ({self.d_model})"
            )
        if self.d_head % 2:
            raise ValueError(f"d_head ({self.d_head}) must be even for rotary embeddings")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            if getattr(self, name) >= self.vocab_size:
                raise ValueError(f"{name} ({getattr(self, name)}) is outside vocab_size ({self.vocab_size})")
        return self


class CurriculumStage(_Strict):
    """Train on sequences of at most `seq_len` tokens while step < `until_step`."""

    until_step: int = Field(gt=0)
    seq_len: int = Field(gt=0)


class QATConfig(_Strict):
    """Quantization-aware training (training.qat): from step round(start_fraction * max_steps) on, every
    matrix is fake-quantized to int8 (per-row symmetric, straight-through gradients) and the learning rate
    follows its own warmup-free cosine from `lr` to `min_lr` over the remaining steps. The run's artifact
    is then written with int8 weights."""

    start_fraction: float = Field(ge=0.0, le=1.0)
    lr: float = Field(gt=0.0)
    min_lr: float = Field(default=0.0, ge=0.0)
    weight_bits: Literal[8] = 8
    # What the inputs of the linear layers see during QAT: fp16 rounding (the Core ML deployment: int8
    # weights, fp16 activations), per-tensor symmetric int8 with a dynamic max scale (W8A8), or nothing.
    activations: Literal["fp16", "int8", "none"] = "fp16"

    @model_validator(mode="after")
    def _lrs(self) -> QATConfig:
        if self.min_lr > self.lr:
            raise ValueError(f"qat.min_lr ({self.min_lr}) must not exceed qat.lr ({self.lr})")
        return self


class KDConfig(_Strict):
    """Distillation from a KD mix (`train --kd-data`, training/losses.py): per target token,
    `alpha_ce * CE(teacher text) + alpha_kl * divergence(teacher || student)`, both weighted by the
    process weights. The divergence is forward KL on the teacher's top-k (`loss: kl`) or the
    generalized JSD (`loss: jsd`; `jsd_beta` required there and refused otherwise), at `temperature`
    (times its square), with the teacher's mass outside the top-k handled by `tail` (zero | uniform)."""

    alpha_ce: float = Field(default=1.0, ge=0.0)
    alpha_kl: float = Field(default=1.0, ge=0.0)
    temperature: float = Field(default=1.0, gt=0.0)
    tail: Literal["zero", "uniform"] = "uniform"
    loss: Literal["kl", "jsd"] = "kl"
    jsd_beta: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _used(self) -> KDConfig:
        if self.alpha_ce == 0.0 and self.alpha_kl == 0.0:
            raise ValueError("kd.alpha_ce and kd.alpha_kl are both 0: nothing to train on")
        if (self.jsd_beta is None) == (self.loss == "jsd"):
            raise ValueError("kd.jsd_beta is required with kd.loss: jsd and refused with kd.loss: kl")
        return self


class TrainingConfig(_Strict):
    lr: float = Field(gt=0.0)
    min_lr: float = Field(default=0.0, ge=0.0)  # floor of the cosine decay
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = Field(ge=0)
    max_steps: int = Field(gt=0)
    batch_size: int = Field(gt=0)  # sequences per micro-batch
    grad_accum: int = Field(default=1, gt=0)  # micro-batches per optimiser step
    weight_decay: float = Field(default=0.1, ge=0.0)
    grad_clip: float = Field(default=1.0, gt=0.0)
    seq_len: list[CurriculumStage] = Field(min_length=1)
    eval_every: int = Field(gt=0)
    keep_last: int = Field(default=2, gt=0)  # checkpoints kept besides milestones
    milestones: list[int] = Field(default_factory=list)  # steps whose checkpoints are never deleted
    seed: int = 0
    # A parallel drafter (model.parallel_draft > 0): per sequence, the cut points after which a group of
    # pad tokens is trained to predict the following tokens (training/parallel_draft.py).
    draft_groups: int = Field(default=16, gt=0)
    # fp32 master weights always; "bf16" runs matmuls under autocast (2-3x on CPUs with AVX512-BF16 or AMX)
    precision: Literal["fp32", "bf16"] = "fp32"
    # Process supervision: loss weight of target tokens inside tool names, JSON arguments and
    # integration claims (every other target token weighs 1).
    w_tool: float = Field(default=1.0, ge=0.0)
    w_args: float = Field(default=1.0, ge=0.0)
    w_integr: float = Field(default=1.0, ge=0.0)
    qat: QATConfig | None = None  # quantization-aware training for the last part of the run (or all of it)
    kd: KDConfig | None = None  # distillation loss weights: required with --kd-data, refused without

    @model_validator(mode="after")
    def _schedule(self) -> TrainingConfig:
        if self.warmup_steps >= self.max_steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below max_steps ({self.max_steps})")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        steps = [s.until_step for s in self.seq_len]
        if steps != sorted(set(steps)):
            raise ValueError(f"seq_len: until_step values must strictly increase, got {steps}")
        if steps[-1] < self.max_steps:
            raise ValueError(
                f"seq_len: the last until_step ({steps[-1]}) must cover max_steps ({self.max_steps})"
            )
        bad = [m for m in self.milestones if not 0 < m <= self.max_steps]
        if bad:
            raise ValueError(f"milestones {bad} are outside 1..max_steps ({self.max_steps})")
        if self.qat_start_step is not None and self.qat_start_step >= self.max_steps:
            raise ValueError(f"qat.start_fraction ({self.qat.start_fraction}) leaves no QAT step before max_steps")
        return self

    @property
    def qat_start_step(self) -> int | None:
        """First step trained with fake quantization (None without a qat section)."""
        return None if self.qat is None else round(self.qat.start_fraction * self.max_steps)

    def seq_len_at(self, step: int) -> int:
        """Sequence length of the curriculum stage that contains `step` (0-based)."""
        return next((s.seq_len for s in self.seq_len if step < s.until_step), self.seq_len[-1].seq_len)


class RoleConfig(_Strict):
    role: Role
    model: ModelConfig
    training: TrainingConfig

    @model_validator(mode="after")
    def _role_fits(self) -> RoleConfig:
        if (self.role == "judge") != self.model.judge_heads:
            raise ValueError(f"model.judge_heads must be {self.role == 'judge'} for role {self.role}")
        if self.model.entailment_head and not self.model.judge_heads:
            raise ValueError("model.entailment_head needs model.judge_heads")
        longest = max(s.seq_len for s in self.training.seq_len)
        if longest > self.model.max_seq_len:
            raise ValueError(
                f"training.seq_len reaches {longest}, beyond model.max_seq_len ({self.model.max_seq_len})"
            )
        return self

    def to_yaml(self) -> str:
        """Canonical YAML (sorted keys): the copy stored in artifacts and hashed in their manifest."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=True)


def _describe_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{where}'")
        else:
            lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def parse_role_config(data: object, source: str = "<config>") -> RoleConfig:
    """Validate already-parsed YAML/JSON data; errors name the source and every offending key."""
    try:
        return RoleConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe_errors(exc)}") from None


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of one in `configs/` ('worker_toy')."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return CONFIG_DIR / f"{name_or_path}.yaml"


def load_role_config(name_or_path: str | Path) -> RoleConfig:
    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_role_config(data, str(path))


def profile_config(profile: str, role: str) -> RoleConfig:
    """The named config of `role` in `profile` ('toy', 'worker' -> configs/worker_toy.yaml)."""
    try:
        name = PROFILES[profile][role]
    except KeyError:
        raise ConfigError(
            f"no {role!r} config in profile {profile!r}; profiles: {sorted(PROFILES)}"
        ) from None
    return load_role_config(name)
