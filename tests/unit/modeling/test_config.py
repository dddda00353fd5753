"""Role configs: every committed file validates; unknown keys and contradictions are refused by name."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from modeling.config import (
    CONFIG_DIR,
    PROFILES,
    ConfigError,
    load_role_config,
    parse_role_config,
    profile_config,
)
from tests.unit.modeling.helpers import TRAINING, model_section

ROLE_CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def valid() -> dict:
    return {"role": "worker", "model": model_section(), "training": copy.deepcopy(TRAINING)}


def test_every_profile_names_an_existing_config():
    """PROFILES only points at files that exist, and every role config file belongs to a profile."""
    named = {name for roles in PROFILES.values() for name in roles.values()}
    assert named == {p.stem for p in ROLE_CONFIGS}


@pytest.mark.parametrize("path", ROLE_CONFIGS, ids=lambda p: p.stem)
def test_committed_configs_validate(path: Path):
    """Each committed role config loads, and its file name matches its role."""
    config = load_role_config(path)
    assert path.stem.startswith(config.role)


def test_profiles_share_vocab_sizes():
    """The tokenizer profiles fix vocab sizes: tiny 512, toy 2048, real 32000 (variants such as toy_qat too)."""
    expected = {"tiny": 512, "toy": 2048, "real": 32000}
    for profile, roles in PROFILES.items():
        for role in roles:
            assert profile_config(profile, role).model.vocab_size == expected[profile.split("_")[0]]


def test_real_sizes_follow_the_seed():
    w, j, d = (load_role_config(n).model for n in ("worker_9b", "judge_4b", "drafter_4b"))
    assert (w.d_model, w.n_layers, w.n_heads, w.n_kv_heads, w.d_head) == (4096, 32, 32, 8, 128)
    assert w.vocab_size == j.vocab_size == d.vocab_size == 32000
    for m in (j, d):
        assert (m.d_model, m.n_layers, m.n_heads, m.n_kv_heads, m.d_head) == (2048, 24, 16, 4, 128)


def test_drafter_shares_the_workers_rope():
    """Speculative decoding needs the drafter to place every position exactly where the worker does."""
    for profile in ("toy", "real"):
        w, d = profile_config(profile, "worker").model, profile_config(profile, "drafter").model
        assert (w.rope_theta, w.rope_scaling, w.max_seq_len) == (d.rope_theta, d.rope_scaling, d.max_seq_len)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ((), "mlp_hidden_mult"),
        (("model",), "mlp_hidden_mult"),
        (("training",), "curriculum"),
        (("training", "seq_len", 0), "tokens"),
    ],
)
def test_unknown_keys_are_rejected_by_name(path: tuple, key: str):
    data = valid()
    target = data
    for part in path:
        target = target[part]
    target[key] = 1
    with pytest.raises(ConfigError) as exc:
        parse_role_config(data, "cfg.yaml")
    dotted = ".".join(str(p) for p in (*path, key))
    assert f"unknown key '{dotted}'" in str(exc.value)
    assert str(exc.value).startswith("cfg.yaml:")


def test_unknown_rope_scaling_key_is_rejected():
    data = valid()
    data["model"]["rope_scaling"] = {"type": "linear", "factor": 2.0, "original_max_position_embeddings": 8}
    with pytest.raises(ConfigError, match=r"unknown key 'model\.rope_scaling\.linear\.original_max"):
        parse_role_config(data)


def test_unknown_rope_scaling_type_is_rejected():
    data = valid()
    data["model"]["rope_scaling"] = {"type": "dynamic", "factor": 2.0}
    with pytest.raises(ConfigError, match=r"model\.rope_scaling"):
        parse_role_config(data)


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        ("model", {"n_kv_heads": 3}, "multiple of n_kv_heads"),
        ("model", {"d_head": 16}, r"d_head \* n_heads"),
        ("model", {"eos_token_id": 97}, "eos_token_id .97. is outside vocab_size"),
        ("model", {"judge_heads": True}, "judge_heads must be False for role worker"),
        ("model", {"intermediate_size": 0}, "intermediate_size"),
        ("training", {"warmup_steps": 10}, "warmup_steps"),
        ("training", {"seq_len": [{"until_step": 5, "seq_len": 32}]}, "must cover max_steps"),
        ("training", {"seq_len": [{"until_step": 10, "seq_len": 128}]}, "beyond model.max_seq_len"),
        (
            "training",
            {"seq_len": [{"until_step": 9, "seq_len": 8}, {"until_step": 9, "seq_len": 16}]},
            "strictly increase",
        ),
        ("training", {"milestones": [11]}, "outside 1..max_steps"),
    ],
)
def test_contradictions_are_rejected(section: str, changes: dict, message: str):
    data = valid()
    data[section].update(changes)
    with pytest.raises(ConfigError, match=message):
        parse_role_config(data)


def test_judge_role_requires_heads():
    data = valid()
    data["role"] = "judge"
    with pytest.raises(ConfigError, match="judge_heads must be True for role judge"):
        parse_role_config(data)


def test_curriculum_lookup_by_step():
    data = valid()
    data["training"]["seq_len"] = [{"until_step": 4, "seq_len": 16}, {"until_step": 10, "seq_len": 32}]
    training = parse_role_config(data).training
    assert [training.seq_len_at(s) for s in (0, 3, 4, 9, 10)] == [16, 16, 32, 32, 32]


def test_canonical_yaml_round_trips():
    config = load_role_config("worker_9b")
    assert parse_role_config(yaml.safe_load(config.to_yaml())) == config


def test_unreadable_files_name_the_path(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load_role_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_role_config(bad)


def test_unknown_profile_or_role():
    with pytest.raises(ConfigError, match="no 'teacher' config in profile 'real'"):
        profile_config("real", "teacher")
