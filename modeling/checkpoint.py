"""The artifact format: what training writes and conversion, the service and evaluation load.

    artifacts/<role>/
      config.json         Hugging Face LlamaForCausalLM config (AutoModelForCausalLM loads the dir)
      model.safetensors   weights under HF Llama names; a judge adds `judge_heads.*` keys. An int8 artifact
                          (`save_artifact(..., int8=True)`, e.g. after QAT) stores every matrix as int8 with a
                          fp32 `<name>.scale` per output row (modeling.quant); the manifest and config.json say
                          so under "quantization", and `load_artifact` dequantizes to float.
      role_config.yaml    the validated role config (canonical YAML): the source of truth on load
      tokenizer.json ...  the tokenizer files, when a tokenizer directory is given
      manifest.json       role, sha256 of every file above, dataset fingerprint, metrics, code version

An artifact is written to a temporary directory and renamed into place, so a reader never sees a
half-written one. `load_artifact` checks every hash in the manifest before it builds anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kimi_student import __version__
from modeling.config import ConfigError, ModelConfig, Role, RoleConfig, parse_role_config
from modeling.model import Transformer
from modeling.quant import SCALE_SUFFIX, SCHEME, dequantize_state, quantize_state

FORMAT_VERSION = 1
HF_CONFIG, WEIGHTS, ROLE_CONFIG, MANIFEST, TOKENIZER = (
    "config.json",
    "model.safetensors",
    "role_config.yaml",
    "manifest.json",
    "tokenizer.json",
)
# HF stores a tied matrix once: these keys are dropped on save and restored from their source on load.
TIED_KEYS = {"lm_head.weight": "model.embed_tokens.weight"}
JUDGE_PREFIX = "judge_heads."
# Our rope_scaling fields -> HF's (the discriminator `type` becomes `rope_type`).
HF_ROPE_KEYS = {"type": "rope_type"}


class ArtifactError(Exception):
    """A missing, corrupt or mismatched artifact; the message names the directory and the file."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hf_rope(config: ModelConfig) -> dict[str, Any] | None:
    if config.rope_scaling is None:
        return None
    return {HF_ROPE_KEYS.get(k, k): v for k, v in config.rope_scaling.model_dump().items()}


def hf_config(config: ModelConfig, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """`config.json` of a LlamaForCausalLM with our architecture."""
    rope = hf_rope(config)
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.n_kv_heads,
        "head_dim": config.d_head,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        # transformers 4 reads rope_theta + rope_scaling, transformers 5 rope_parameters.
        "rope_theta": config.rope_theta,
        "rope_scaling": rope,
        "rope_parameters": {"rope_type": "default", **(rope or {}), "rope_theta": config.rope_theta},
        "tie_word_embeddings": config.tie_embeddings,
        "bos_token_id": config.bos_token_id,
        "eos_token_id": config.eos_token_id,
        "pad_token_id": config.pad_token_id,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": str(dtype).removeprefix("torch."),
    }


def tokenizer_vocab_size(path: str | os.PathLike[str]) -> int:
    """Vocabulary size (added tokens included) of a `tokenizer.json` file."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path)).get_vocab_size()
    except Exception as exc:  # tokenizers raises a bare Exception on unreadable files
        raise ArtifactError(f"{path}: not a readable tokenizer ({exc})") from None


def check_tokenizer_vocab(
    tokenizer_vocab_size: int, config: ModelConfig | RoleConfig, source: str = "tokenizer"
) -> None:
    """Refuse a tokenizer whose ids do not map one to one onto the model's embedding rows."""
    model = config.model if isinstance(config, RoleConfig) else config
    if tokenizer_vocab_size != model.vocab_size:
        raise ArtifactError(
            f"{source}: tokenizer vocabulary has {tokenizer_vocab_size} tokens but model.vocab_size is "
            f"{model.vocab_size}; train the tokenizer with the config's vocab_size or fix the config"
        )


def _weights_to_save(model: Transformer, int8: bool = False) -> dict[str, torch.Tensor]:
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        for key in TIED_KEYS:
            state.pop(key)
    return {k: v.contiguous() for k, v in quantize_state(state).items()} if int8 else state


def _write_contents(tmp: Path, model: Transformer, config: RoleConfig, tokenizer_dir: Path | None, int8: bool) -> None:
    dtype = model.model.embed_tokens.weight.dtype
    hf = hf_config(config.model, dtype) | ({"quantization": SCHEME} if int8 else {})
    (tmp / HF_CONFIG).write_text(json.dumps(hf, indent=2) + "\n")
    save_file(_weights_to_save(model, int8), str(tmp / WEIGHTS), metadata={"format": "pt"})
    (tmp / ROLE_CONFIG).write_text(config.to_yaml())
    if tokenizer_dir is not None:
        check_tokenizer_vocab(tokenizer_vocab_size(tokenizer_dir / TOKENIZER), config, str(tokenizer_dir))
        for src in sorted(tokenizer_dir.iterdir()):
            if src.is_file() and src.name not in (HF_CONFIG, WEIGHTS, ROLE_CONFIG, MANIFEST):
                shutil.copyfile(src, tmp / src.name)


def _manifest(
    tmp: Path,
    model: Transformer,
    config: RoleConfig,
    metrics: dict[str, Any] | None,
    dataset_fingerprint: str | None,
    int8: bool = False,
) -> dict[str, Any]:
    files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
    return {
        "format_version": FORMAT_VERSION,
        "role": config.role,
        "code_version": __version__,
        "config_sha256": files[ROLE_CONFIG],
        "weights_sha256": files[WEIGHTS],
        "tokenizer_sha256": files.get(TOKENIZER),
        "dataset_fingerprint": dataset_fingerprint,
        "parameters": sum(p.numel() for p in model.parameters()),
        "judge_heads": model.judge_heads is not None,
        "quantization": SCHEME if int8 else None,
        "metrics": metrics or {},
        "files": files,
    }


def _replace_dir(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old)


def save_artifact(
    out_dir: str | os.PathLike[str],
    model: Transformer,
    config: RoleConfig,
    *,
    tokenizer_dir: str | os.PathLike[str] | None = None,
    metrics: dict[str, Any] | None = None,
    dataset_fingerprint: str | None = None,
    write_extra: Callable[[Path], None] | None = None,
    int8: bool = False,
) -> Path:
    """Write `model` as an artifact directory (atomically replacing `out_dir`); returns its path.

    `int8=True` writes every matrix as int8 + per-row scales (modeling.quant): about a quarter of the
    fp32 size; what QAT trained for, or plain post-training quantization of a float model.

    `write_extra(tmp_dir)` may add files (a trainer's optimizer state, plots) before the manifest is
    written: they are hashed and verified like the rest, and appear only with the whole artifact.
    """
    if model.config != config.model:
        raise ArtifactError(f"{out_dir}: the model was not built from this role config's model section")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write_contents(tmp, model, config, Path(tokenizer_dir) if tokenizer_dir is not None else None, int8)
        if write_extra is not None:
            write_extra(tmp)
        manifest = _manifest(tmp, model, config, metrics, dataset_fingerprint, int8)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def verify_artifact(artifact_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that every file the manifest lists exists and has its recorded sha256; return the manifest."""
    root = Path(artifact_dir)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        files = dict(manifest["files"])
    except FileNotFoundError:
        raise ArtifactError(f"{root}: no {MANIFEST}; not an artifact directory") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{root / MANIFEST}: unreadable manifest ({exc})") from None
    for name, expected in files.items():
        path = root / name
        if not path.is_file():
            raise ArtifactError(f"{path}: missing (listed in {MANIFEST})")
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactError(
                f"{path}: sha256 {actual[:12]}… does not match the manifest's {expected[:12]}…; "
                "the file was modified or is corrupt"
            )
    return manifest


def read_role_config(root: Path) -> RoleConfig:
    """The role config stored in an artifact (architecture, training settings)."""
    try:
        return parse_role_config(yaml.safe_load((root / ROLE_CONFIG).read_text()), str(root / ROLE_CONFIG))
    except (OSError, yaml.YAMLError, ConfigError) as exc:
        raise ArtifactError(f"{root / ROLE_CONFIG}: {exc}") from None


def _read_weights(path: Path, quantization: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ArtifactError(f"{path}: unreadable safetensors file ({exc})") from None
    if quantization is None:
        return state
    if quantization != SCHEME:
        raise ArtifactError(f"{path}: unsupported quantization {quantization} (supported: {SCHEME})")
    unscaled = sorted(k for k, v in state.items() if v.dtype == torch.int8 and k + SCALE_SUFFIX not in state)
    if unscaled:
        raise ArtifactError(f"{path}: int8 tensors without a {SCALE_SUFFIX} tensor: {unscaled}")
    return dequantize_state(state)


def _load_weights(model: Transformer, state: dict[str, torch.Tensor], path: Path) -> None:
    if model.config.tie_embeddings:
        state.update({k: state[src] for k, src in TIED_KEYS.items() if src in state})
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ArtifactError(f"{path}: weights do not fit the config: missing {missing}, unexpected {unexpected}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(f"{path}: weights do not fit the config ({exc})") from None


def load_artifact(
    artifact_dir: str | os.PathLike[str],
    *,
    role: Role | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> tuple[Transformer, RoleConfig]:
    """Verify, then load an artifact; `role` (if given) must match, and 'judge' requires judge heads.
    An int8 artifact is dequantized to float (then cast to `dtype`, if given)."""
    root = Path(artifact_dir)
    manifest = verify_artifact(root)
    config = read_role_config(root)
    if role is not None and config.role != role:
        raise ArtifactError(f"{root}: artifact role is {config.role!r}, expected {role!r}")
    state = _read_weights(root / WEIGHTS, manifest.get("quantization"))
    if role == "judge" and not any(k.startswith(JUDGE_PREFIX) for k in state):
        raise ArtifactError(f"{root / WEIGHTS}: no judge heads ({JUDGE_PREFIX}*); cannot load as a judge")
    if (root / TOKENIZER).is_file():
        check_tokenizer_vocab(tokenizer_vocab_size(root / TOKENIZER), config, str(root / TOKENIZER))
    model = Transformer.empty(config.model, device)
    _load_weights(model, state, root / WEIGHTS)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), config
