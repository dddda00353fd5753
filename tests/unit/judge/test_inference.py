"""The inference API: the truncation rule, head-less models refused, compare in both orders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from arbiter.judge import CLAUSES, Judge
from modeling.checkpoint import ArtifactError, save_artifact
from modeling.config import load_role_config, parse_role_config
from modeling.judge import CALIBRATION, Calibration, JudgeModel, encode_input
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer


def test_short_inputs_are_kept_whole(tokenizer: KSTokenizer):
    enc = encode_input(tokenizer, "spec head", "plea tail", 64)
    assert enc.truncated == 0
    assert enc.ids == [tokenizer.bos_id, *tokenizer.encode("spec head"), *tokenizer.encode("\n\n"),
                       *tokenizer.encode("plea tail")]


def test_truncation_keeps_the_head_of_the_spec_and_the_tail_of_the_candidate(tokenizer: KSTokenizer):
    prompt = "SPECSTART " + "alpha " * 200
    candidate = "beta " * 200 + " EVIDENCE_END"
    full_p, full_c = tokenizer.encode(prompt), tokenizer.encode(candidate)
    enc = encode_input(tokenizer, prompt, candidate, 128)
    sep = tokenizer.encode("\n\n")
    assert len(enc.ids) == 128 and enc.truncated == len(full_p) + len(full_c) - (127 - len(sep))
    body = enc.ids[1:]
    keep_p = (127 - len(sep)) // 2
    assert body[:keep_p] == full_p[:keep_p]  # head of the spec
    assert body[keep_p + len(sep):] == full_c[-(127 - len(sep) - keep_p):]  # tail of the evidence
    short = encode_input(tokenizer, "short spec", candidate, 128)
    assert short.ids[1 : 1 + len(tokenizer.encode("short spec"))] == tokenizer.encode("short spec")  # spec whole


@pytest.fixture(scope="module")
def judge(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> JudgeModel:
    torch.manual_seed(0)
    cfg = load_role_config("judge_tiny")
    out = tmp_path_factory.mktemp("judge") / "judge"
    cal = Calibration(2.0, 0.0, 1.0, 0.0, dict.fromkeys(CLAUSES, 1.0), dict.fromkeys(CLAUSES, 0.5))
    save_artifact(out, Transformer(cfg.model), cfg, tokenizer_dir=dataset_dir / "tokenizer",
                  write_extra=lambda tmp: (tmp / CALIBRATION).write_text(__import__("json").dumps(cal.to_dict())))
    return JudgeModel.load(out)


def test_loaded_judge_is_calibrated_and_fits_the_arbiter_protocol(judge: JudgeModel):
    assert judge.calibrated and isinstance(judge, Judge) and judge.artifact_sha256
    s = judge.score("CAWS working spec FEAT-1", "files: 1 of 2")
    assert 0.0 <= s.score <= 1.0 and set(s.clauses) == set(CLAUSES)
    assert set(judge.clauses("p", "c")) == set(CLAUSES)


def test_batch_path_matches_one_at_a_time(judge: JudgeModel):
    prompts = ["spec one", "spec two is longer than one", "x"]
    cands = ["plea a " * 30, "plea b", "plea c " * 5]
    batch = judge.score_batch(prompts, cands)
    for p, c, r in zip(prompts, cands, batch, strict=True):
        one = judge.score_batch([p], [c])[0]
        assert abs(one.raw - r.raw) < 1e-4


def test_compare_is_mirrored(judge: JudgeModel):
    ab, ba = judge.compare("spec", "plea one", "another plea"), judge.compare("spec", "another plea", "plea one")
    assert {ab.verdict, ba.verdict} in ({"A", "B"}, {"TIE"}) and ab.orders_agree


def test_compare_both_ways_equals_two_compare_calls(judge: JudgeModel):
    """The swap check's two orders from two passes are the two compare_batch calls' results."""
    prompts = ["spec", "spec two", "spec"]
    a, b = ["plea one", "a short plea", "x"], ["another plea", "b", "a longer plea"]
    forward, backward = judge.compare_both_ways(prompts, a, b)
    assert forward == judge.compare_batch(prompts, a, b)
    assert backward == judge.compare_batch(prompts, b, a)


def test_compare_says_tie_when_the_orders_disagree(judge: JudgeModel, monkeypatch):
    calls = iter([1.0, -1.0])  # first pass prefers a, the second pass prefers b

    def decide(diff: float) -> str:
        return "A" if next(calls) > 0 else "B"

    monkeypatch.setattr(judge, "_decide", decide)
    result = judge.compare("spec", "a", "b")
    assert result.verdict == "TIE" and not result.orders_agree


def test_a_model_without_heads_is_not_a_judge(tmp_path: Path, dataset_dir: Path):
    cfg = load_role_config("judge_tiny")
    worker = parse_role_config({**cfg.model_dump(), "role": "worker",
                                "model": {**cfg.model.model_dump(), "judge_heads": False, "entailment_head": False}})
    with pytest.raises(ArtifactError):
        JudgeModel(Transformer(worker.model), KSTokenizer.load(dataset_dir / "tokenizer"))
    save_artifact(tmp_path / "w", Transformer(worker.model), worker, tokenizer_dir=dataset_dir / "tokenizer")
    with pytest.raises(ArtifactError):
        JudgeModel.load(tmp_path / "w")


def test_an_over_long_input_is_reported_as_truncated(judge: JudgeModel, caplog):
    result = judge.score_batch(["spec " * 50], ["evidence " * 3000])[0]
    assert result.truncated > 0 and "tail of the candidate" in caplog.text
    assert judge.score_batch(["spec"], ["short plea"])[0].truncated == 0


def test_entailment_head_triages_claims_one_at_a_time_as_in_a_batch(judge: JudgeModel, tokenizer: KSTokenizer):
    from arbiter.claims.entailment import EntailmentJudge
    from modeling.judge import JudgeEntailment, entailment_input

    evidence = ["tests: 24 passed, 0 failed", "coverage.branch: 81%", "ci.build: failed " * 400]
    claims = ["All 24 tests pass.", "The build passed.", "The build passed."]
    batch = judge.entailment_batch(evidence, claims)
    for e, c, t in zip(evidence, claims, batch, strict=True):
        one = judge.entailment(e, c)
        assert abs(one.support + one.contradict + one.insufficient - 1.0) < 1e-3
        assert max(abs(a - b) for a, b in zip(one.to_dict().values(), t.to_dict().values(), strict=True)) < 1e-3
    # the claim first: an over-long evidence keeps the whole claim and the tail of the evidence
    prompt, candidate = entailment_input(evidence[2], claims[2])
    enc = encode_input(tokenizer, prompt, candidate, judge.max_len)
    assert enc.truncated > 0 and enc.ids[1:1 + len(tokenizer.encode(prompt))] == tokenizer.encode(prompt)
    adapter = JudgeEntailment(judge)
    assert isinstance(adapter, EntailmentJudge) and judge.artifact_sha256[:16] in adapter.name


def test_a_judge_without_the_entailment_head_refuses_to_triage(dataset_dir: Path):
    from modeling.judge import JudgeEntailment

    cfg = load_role_config("judge_tiny")
    plain = parse_role_config({**cfg.model_dump(), "model": {**cfg.model.model_dump(), "entailment_head": False}})
    judge = JudgeModel(Transformer(plain.model), KSTokenizer.load(dataset_dir / "tokenizer"))
    assert not judge.has_entailment and judge.score("p", "c").clauses  # still a Judge
    with pytest.raises(ArtifactError, match="entailment head"):
        judge.entailment("e", "c")
    with pytest.raises(ArtifactError, match="entailment head"):
        JudgeEntailment(judge)
