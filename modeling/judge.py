"""The Judge at inference: a judge artifact plus its calibration -> score, compare, clauses.

Input rendering (the same in training): BOS + tokens(prompt) + tokens("\\n\\n") + tokens(candidate),
the prompt being the arbiter's `render_prompt` (the working spec) and the candidate its
`render_candidate` (the plea). The score head gives one logit per candidate, the clause head five.

Truncation rule: when the input is longer than `max_len`, the head of the prompt and the tail of the
candidate are kept. The prompt keeps `max(room // 2, room - len(candidate))` tokens at most (all of
it when it is shorter), the candidate fills the rest from its end. Every result carries
`truncated` (the number of tokens dropped), so a cut input is visible, never silently scored.

Calibration (`calibration.json` in the artifact, fitted on the validation split by the trainer):
Platt scaling of the score (`sigmoid(a * s + b)` = probability that the arbiter passes the plea), a
Platt slope on score differences for pairwise preference probabilities and the tie margin, one
temperature and one decision threshold per clause. An artifact without it scores with identity
calibration (`calibrated` is False).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from arbiter.claims.entailment import Triage
from arbiter.judge import CLAUSES, JudgeScore
from modeling.checkpoint import MANIFEST, ArtifactError, load_artifact, sha256_file
from modeling.model import Transformer, bucket
from modeling.tokenizer import KSTokenizer

log = logging.getLogger(__name__)

SEPARATOR = "\n\n"
CALIBRATION = "calibration.json"
ENUMERATED_LENGTHS = (512, 1024, 2048)
ENTAILMENT_LABELS = ("support", "contradict", "insufficient")  # the order of the entailment head's logits


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    truncated: int  # tokens dropped by the truncation rule


def encode_input(tokenizer: KSTokenizer, prompt: str, candidate: str, max_len: int) -> Encoded:
    """BOS + prompt + separator + candidate, cut by the truncation rule (head of prompt, tail of candidate)."""
    p, sep, c = tokenizer.encode(prompt), tokenizer.encode(SEPARATOR), tokenizer.encode(candidate)
    room = max_len - 1 - len(sep)
    if room < 2:
        raise ValueError(f"max_len {max_len} leaves no room for a prompt and a candidate")
    if len(p) + len(c) <= room:
        return Encoded([tokenizer.bos_id, *p, *sep, *c], 0)
    keep_p = min(len(p), max(room // 2, room - len(c)))
    keep_c = room - keep_p
    return Encoded([tokenizer.bos_id, *p[:keep_p], *sep, *c[len(c) - keep_c:]], len(p) + len(c) - room)


def pad_batch(rows: Sequence[list[int]], pad_id: int, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, T] and attention mask [B, T] (1 = real token); T is the longest row rounded up
    to `multiple`."""
    width = bucket(max(len(r) for r in rows), multiple)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


@dataclass(frozen=True)
class Calibration:
    score_a: float = 1.0
    score_b: float = 0.0
    pair_a: float = 1.0
    tie_margin: float = 0.0  # |s_a - s_b| below it is a TIE
    temperature: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CLAUSES, 1.0))
    threshold: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CLAUSES, 0.5))
    entail_temperature: float = 1.0  # softmax temperature of the entailment head

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "score": {"a": self.score_a, "b": self.score_b, "target": "arbiter status PASS"},
                "pair": {"a": self.pair_a, "tie_margin": self.tie_margin},
                "clauses": {c: {"temperature": self.temperature[c], "threshold": self.threshold[c]} for c in CLAUSES},
                "entailment": {"temperature": self.entail_temperature}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        clauses = data["clauses"]
        return cls(float(data["score"]["a"]), float(data["score"]["b"]), float(data["pair"]["a"]),
                   float(data["pair"]["tie_margin"]), {c: float(clauses[c]["temperature"]) for c in CLAUSES},
                   {c: float(clauses[c]["threshold"]) for c in CLAUSES},
                   float(data.get("entailment", {}).get("temperature", 1.0)))

    def score_prob(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.score_a * raw + self.score_b)

    def clause_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """[N, 5] logits -> temperature-scaled probabilities."""
        temps = torch.tensor([self.temperature[c] for c in CLAUSES], dtype=logits.dtype)
        return torch.sigmoid(logits / temps)


@dataclass(frozen=True)
class JudgeResult:
    """One scored candidate: calibrated score, raw logit, clause probabilities and decisions."""

    score: float
    raw: float
    clauses: dict[str, float]
    satisfied: tuple[str, ...]
    truncated: int

    def to_score(self) -> JudgeScore:
        return JudgeScore(round(self.score, 4), {c: round(p, 4) for c, p in self.clauses.items()})


@dataclass(frozen=True)
class Comparison:
    verdict: str  # "A" | "B" | "TIE"
    p_a: float  # calibrated probability that a is preferred
    a: JudgeResult
    b: JudgeResult
    orders_agree: bool


Heads = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # (ids, mask) -> score, clauses


class JudgeModel:
    """A loaded Judge; satisfies the arbiter's `Judge` protocol (`score`, `artifact_sha256`)."""

    def __init__(self, model: Transformer, tokenizer: KSTokenizer, calibration: Calibration | None = None,
                 max_len: int | None = None, artifact_sha256: str | None = None, batch_size: int = 16,
                 metrics: dict[str, Any] | None = None, heads: Heads | None = None):
        """`heads` computes (score, clause logits) for a padded batch in place of `model.judge`: the same
        weights run elsewhere (the service's onnxruntime judge, `conversion.onnx_runtime.OnnxJudgeHeads`)."""
        if model.judge_heads is None:
            raise ArtifactError("this model has no judge heads; it cannot serve as a Judge")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.calibration = calibration or Calibration()
        self.calibrated = calibration is not None
        self.max_len = min(max_len or model.config.max_seq_len, model.config.max_seq_len)
        self.artifact_sha256 = artifact_sha256
        self.batch_size = batch_size
        self.metrics = metrics or {}  # the trainer's, from the artifact manifest
        self.heads: Heads = heads or model.judge
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: str | Path, max_len: int | None = None, device: str = "cpu",
             heads: Heads | None = None) -> JudgeModel:
        """Load `directory` as a judge (refused without heads) with its tokenizer and calibration."""
        root = Path(directory)
        model, _ = load_artifact(root, role="judge", device=device)
        calibration = None
        if (root / CALIBRATION).is_file():
            try:
                calibration = Calibration.from_dict(json.loads((root / CALIBRATION).read_text()))
            except (ValueError, KeyError, TypeError) as exc:
                raise ArtifactError(f"{root / CALIBRATION}: unreadable calibration ({exc})") from None
        metrics = json.loads((root / MANIFEST).read_text()).get("metrics") or {}
        return cls(model, KSTokenizer.load(root), calibration, max_len, sha256_file(root / MANIFEST), metrics=metrics,
                   heads=heads)

    # ---------------------------------------------------------------- batch path

    def raw_batch(
        self, prompts: Sequence[str], candidates: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Raw score logits [N], clause logits [N, 5] and dropped-token counts, in input order."""
        encoded = [encode_input(self.tokenizer, p, c, self.max_len) for p, c in zip(prompts, candidates, strict=True)]

        def heads(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            score, clause = self.heads(ids, mask)
            return torch.cat([score[:, None], clause], 1)

        out = self._forward(encoded, heads, 1 + len(CLAUSES))
        scores, clauses = out[:, 0], out[:, 1:]
        cut = [e.truncated for e in encoded]
        if any(cut):
            log.warning("%d judge input(s) over %d tokens: kept the head of the prompt and the tail of the "
                        "candidate (%d tokens dropped in all)", sum(1 for c in cut if c), self.max_len, sum(cut))
        return scores, clauses, cut

    def _forward(self, encoded: Sequence[Encoded], run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 width: int) -> torch.Tensor:
        """`run(ids, mask)` -> [B, width] over batches of similar lengths; rows back in input order."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        out = torch.zeros(len(encoded), width)
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                ids, mask = pad_batch([encoded[i].ids for i in rows], self.tokenizer.pad_id)
                out[rows] = run(ids, mask).float()
        return out

    def score_batch(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[JudgeResult]:
        raw, logits, truncated = self.raw_batch(prompts, candidates)
        probs = self.calibration.clause_probs(logits)
        scores = self.calibration.score_prob(raw)
        out = []
        for i in range(len(raw)):
            clauses = {c: float(probs[i, k]) for k, c in enumerate(CLAUSES)}
            satisfied = tuple(c for c in CLAUSES if clauses[c] >= self.calibration.threshold[c])
            out.append(JudgeResult(float(scores[i]), float(raw[i]), clauses, satisfied, truncated[i]))
        return out

    def compare_batch(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> list[Comparison]:
        """Each pair scored in both orders (two passes, rows laid out a-then-b and b-then-a); a pair
        whose two decisions disagree is a TIE."""
        return self._comparisons(*self._passes(prompts, a, b))

    def compare_both_ways(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]
                          ) -> tuple[list[Comparison], list[Comparison]]:
        """compare_batch(prompts, a, b) and compare_batch(prompts, b, a) from the same two passes: the
        second call's passes are the first call's, swapped (the same rows in the same order, so the same
        scores), so a swap-consistency check costs two passes instead of four."""
        first, second = self._passes(prompts, a, b)
        return self._comparisons(first, second), self._comparisons(second, first)

    def _passes(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]
                ) -> tuple[list[JudgeResult], list[JudgeResult]]:
        """Scores of rows laid out a-then-b and b-then-a."""
        return (self.score_batch([*prompts, *prompts], [*a, *b]),
                self.score_batch([*prompts, *prompts], [*b, *a]))

    def _comparisons(self, first: list[JudgeResult], second: list[JudgeResult]) -> list[Comparison]:
        n = len(first) // 2
        out = []
        for i in range(n):
            ra, rb = first[i], first[n + i]
            d1, d2 = ra.raw - rb.raw, second[n + i].raw - second[i].raw  # both: a minus b
            v1, v2 = self._decide(d1), self._decide(d2)
            p_a = float(torch.sigmoid(torch.tensor(self.calibration.pair_a * (d1 + d2) / 2)))
            out.append(Comparison(v1 if v1 == v2 else "TIE", p_a, ra, rb, v1 == v2))
        return out

    def _decide(self, diff: float) -> str:
        if abs(diff) <= self.calibration.tie_margin:
            return "TIE"
        return "A" if diff > 0 else "B"

    # ---------------------------------------------------------------- one at a time

    def score(self, prompt: str, candidate: str) -> JudgeScore:
        """The arbiter's Judge protocol: calibrated score and clause probabilities in [0, 1]."""
        return self.score_batch([prompt], [candidate])[0].to_score()

    def clauses(self, prompt: str, candidate: str) -> dict[str, dict[str, float | bool]]:
        """Per clause: calibrated probability and whether it clears the clause's fitted threshold."""
        r = self.score_batch([prompt], [candidate])[0]
        return {c: {"prob": round(p, 4), "satisfied": c in r.satisfied} for c, p in r.clauses.items()}

    def compare(self, prompt: str, a: str, b: str) -> Comparison:
        return self.compare_batch([prompt], [a], [b])[0]

    # ---------------------------------------------------------------- entailment (claimify's triage)

    @property
    def has_entailment(self) -> bool:
        return self.model.judge_heads is not None and self.model.judge_heads.entail is not None

    @property
    def entailment_beats_lexical(self) -> bool:
        """The head's test accuracy (from training) is at least the lexical rules' on the same triples."""
        scores = self.metrics.get("entailment") or {}
        head, rules = (scores.get(k, {}).get("accuracy") for k in ("test", "test_lexical_baseline"))
        return self.has_entailment and head is not None and rules is not None and head >= rules

    def entailment_logits(self, evidence: Sequence[str], claims: Sequence[str]) -> torch.Tensor:
        """Raw support / contradict / insufficient logits [N, 3] (rendering: `entailment_input`)."""
        if not self.has_entailment:
            raise ArtifactError("this judge was trained without the entailment head (model.entailment_head)")
        encoded = [encode_input(self.tokenizer, *entailment_input(e, c), self.max_len)
                   for e, c in zip(evidence, claims, strict=True)]
        return self._forward(encoded, self.model.entailment, len(ENTAILMENT_LABELS))

    def entailment_batch(self, evidence: Sequence[str], claims: Sequence[str]) -> list[Triage]:
        probs = torch.softmax(self.entailment_logits(evidence, claims) / self.calibration.entail_temperature, -1)
        return [Triage(*(round(float(x), 4) for x in row)) for row in probs]

    def entailment(self, evidence: str, claim: str) -> Triage:
        return self.entailment_batch([evidence], [claim])[0]


def entailment_input(evidence: str, claim: str) -> tuple[str, str]:
    """(prompt, candidate) of an entailment input: the claim first, so the truncation rule keeps the
    whole claim and the tail of the evidence (the same in training)."""
    return f"CLAIM: {claim}", f"EVIDENCE: {evidence}"


class JudgeEntailment:
    """The judge's entailment head behind claimify's `EntailmentJudge` protocol; its name (in
    claimify's configuration fingerprint) carries the artifact's manifest hash."""

    def __init__(self, judge: JudgeModel):
        if not judge.has_entailment:
            raise ArtifactError("this judge was trained without the entailment head (model.entailment_head)")
        self.judge = judge
        self.name = f"judge-entailment:{(judge.artifact_sha256 or 'unsaved')[:16]}"

    def triage(self, evidence: str, claim: str) -> Triage:
        return self.judge.entailment(evidence, claim)
