"""`kimi-student models describe`: exact counts, checked against the closed-form formula."""

from __future__ import annotations

import json

import pytest

from kimi_student.cli import main
from modeling.config import CONFIG_DIR, ModelConfig, load_role_config
from modeling.describe import describe, markdown_row


def formula_parameters(m: ModelConfig) -> int:
    """Llama parameter count from the architecture alone (no modules involved)."""
    attention = m.d_model * m.d_head * (2 * m.n_heads + 2 * m.n_kv_heads)  # q, o + k, v
    mlp = 3 * m.d_model * m.intermediate_size
    per_layer = attention + mlp + 2 * m.d_model  # two RMSNorm weights
    vocab = m.vocab_size * m.d_model * (1 if m.tie_embeddings else 2)
    # score (1) + 5 clauses (+ 3 entailment logits), with biases
    heads = (m.d_model + 1) * (6 + 3 * m.entailment_head) if m.judge_heads else 0
    return m.n_layers * per_layer + m.d_model + vocab + heads


def test_worker_9b_count_is_printed_exactly(capsys: pytest.CaptureFixture[str]):
    expected = formula_parameters(load_role_config("configs/worker_9b.yaml").model)
    assert expected == 8_047_038_464  # the seed's "~9B" worker is 8.05 B
    assert main(["models", "describe", "configs/worker_9b.yaml"]) == 0
    out = capsys.readouterr().out
    assert f"{expected:,}" in out
    assert "KV cache/token fp16 131,072 B, fp32 262,144 B" in out


@pytest.mark.parametrize(
    "name", ["worker_9b", "judge_4b", "drafter_4b", "teacher_toy", "worker_toy", "judge_toy", "drafter_toy"]
)
def test_counts_match_the_formula(name: str):
    config = load_role_config(name)
    params = describe(config, name)["parameters"]
    assert params["total"] == formula_parameters(config.model)
    parts = params["embedding"] + params["lm_head"] + params["non_embedding"] + params["judge_heads"]
    assert parts == params["total"]


def test_json_report(capsys: pytest.CaptureFixture[str]):
    assert main(["models", "describe", "judge_4b", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    m = load_role_config("judge_4b").model
    kv = 2 * m.n_layers * m.n_kv_heads * m.d_head
    assert report["parameters"]["judge_heads"] == (6 + 3 * m.entailment_head) * (m.d_model + 1)
    assert report["kv_bytes_per_token"] == {"fp16": 2 * kv, "fp32": 4 * kv}
    rows = {r["context"]: r for r in report["memory"]}
    assert sorted(rows) == [2048, 4096, 8192, 16384, 32768]
    weights = 2 * report["parameters"]["total"]
    assert rows[8192]["fp16_weights_bytes"] == weights + 8192 * 2 * kv
    assert rows[8192]["int8_weights_bytes"] < rows[8192]["fp16_weights_bytes"]
    assert not rows[2048]["beyond_max_seq_len"] and rows[4096]["beyond_max_seq_len"]


def test_bad_config_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.yaml"
    text = (load_role_config("worker_tiny").to_yaml()).replace("d_head: 16", "d_head: 16\n  mlp_ratio: 4")
    bad.write_text(text)
    assert main(["models", "describe", str(bad)]) == 2
    assert "unknown key 'model.mlp_ratio'" in capsys.readouterr().err


def test_docs_table_matches_the_configs():
    """docs/models.md holds the current `models describe --markdown` rows of every role config."""
    docs = (CONFIG_DIR.parent / "docs" / "models.md").read_text().splitlines()
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        assert markdown_row(describe(load_role_config(path), path.stem)) in docs, path.stem
