"""Calibration fits and Judge metrics: Platt scaling, clause temperatures and thresholds, F1, ECE.

All fits run on the validation split; the test split only measures. Inputs are plain tensors of raw
model outputs, so the same code serves the trainer, the tests and the benchmark.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from arbiter.judge import CLAUSES
from modeling.judge import ENTAILMENT_LABELS, Calibration

THRESHOLD_GRID = [i / 100 for i in range(5, 96)]


def _bce_grid(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean log loss per column: logits [N, K] (one column per candidate parameter setting), y [N]."""
    return F.binary_cross_entropy_with_logits(logits, y[:, None].expand_as(logits), reduction="none").mean(0)


def fit_platt(x: torch.Tensor, y: torch.Tensor, bias: bool = True) -> tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a * x + b) against 0/1 targets y (b = 0 without bias).

    A coarse grid (a log-spaced in [0.01, 100], b in [-10, 10]) then two finer grids around the best
    point: no optimiser state, no divergence on separable data (a stays within the grid)."""
    x, y = x.double().flatten(), y.double().flatten()
    a_grid = torch.logspace(-2, 2, 41, dtype=torch.float64)
    b_grid = torch.linspace(-10, 10, 81, dtype=torch.float64) if bias else torch.zeros(1, dtype=torch.float64)
    for _ in range(3):
        aa, bb = torch.meshgrid(a_grid, b_grid, indexing="ij")
        loss = _bce_grid(x[:, None] * aa.flatten()[None] + bb.flatten()[None], y)
        best = int(loss.argmin())
        a, b = float(aa.flatten()[best]), float(bb.flatten()[best])
        a_step = float(a_grid[1] / a_grid[0]) if len(a_grid) > 1 else 1.0
        b_step = float(b_grid[1] - b_grid[0]) if len(b_grid) > 1 else 0.0
        a_grid = a * torch.logspace(-1, 1, 21, base=a_step, dtype=torch.float64)
        b_grid = b + torch.linspace(-b_step, b_step, 21, dtype=torch.float64) if bias else b_grid
    return a, b


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """T in [0.05, 20] minimising the log loss of sigmoid(logits / T): a log-spaced grid, refined twice."""
    logits, y = logits.double().flatten(), y.double().flatten()
    grid = torch.logspace(-1.3, 1.3, 53, dtype=torch.float64)
    for _ in range(3):
        t = float(grid[int(_bce_grid(logits[:, None] / grid[None], y).argmin())])
        step = float(grid[1] / grid[0])
        grid = t * torch.logspace(-1, 1, 21, base=step, dtype=torch.float64)
    return min(20.0, max(0.05, t))


def f1(pred: torch.Tensor, y: torch.Tensor) -> float:
    tp = float((pred & y).sum())
    fp, fn = float((pred & ~y).sum()), float((~pred & y).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def best_threshold(probs: torch.Tensor, y: torch.Tensor) -> float:
    """The grid threshold with the best F1 (ties: the one closest to 0.5)."""
    scored = [(f1(probs >= t, y), -abs(t - 0.5), t) for t in THRESHOLD_GRID]
    return max(scored)[2]


def best_tie_margin(diff: torch.Tensor, winner: torch.Tensor) -> float:
    """Margin on |s_a - s_b| maximising 3-way accuracy (winner: 1 a, -1 b, 0 tie) on validation pairs."""
    candidates = [0.0, *sorted(diff.abs().tolist())]
    best = (-1.0, 0.0)
    for m in candidates[:: max(1, len(candidates) // 400)]:
        pred = torch.where(diff.abs() <= m, 0, torch.sign(diff)).long()
        best = max(best, (float((pred == winner).float().mean()), -m))
    return -best[1]


def ece(probs: torch.Tensor, y: torch.Tensor, bins: int = 10) -> float:
    """Expected calibration error: bin-weighted |mean confidence - accuracy| over equal-width bins."""
    probs, y = probs.flatten().double(), y.flatten().double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    total = 0.0
    for k in range(bins):
        upper = probs <= edges[k + 1] if k == bins - 1 else probs < edges[k + 1]
        sel = (probs >= edges[k]) & upper
        if sel.any():
            total += float(sel.double().mean()) * abs(float(probs[sel].mean()) - float(y[sel].mean()))
    return total


def fit_calibration(val: dict[str, torch.Tensor]) -> Calibration:
    """From validation outputs: `score`/`passed` per candidate, `diff`/`winner` per pair, `logits`/`labels`."""
    score_a, score_b = fit_platt(val["score"], val["passed"].float())
    decisive = val["winner"] != 0
    pair_a, _ = fit_platt(val["diff"][decisive], (val["winner"][decisive] > 0).float(), bias=False)
    temps, thresholds = {}, {}
    for k, c in enumerate(CLAUSES):
        temps[c] = fit_temperature(val["logits"][:, k], val["labels"][:, k].float())
        thresholds[c] = best_threshold(torch.sigmoid(val["logits"][:, k] / temps[c]), val["labels"][:, k].bool())
    return Calibration(score_a, score_b, pair_a, best_tie_margin(val["diff"], val["winner"]), temps, thresholds)


def judge_metrics(out: dict[str, torch.Tensor], cal: Calibration) -> dict[str, object]:
    """Pairwise accuracy (ties excluded), 3-way accuracy, clause F1 (micro, macro, per clause), ECE."""
    decisive = out["winner"] != 0
    diff, winner = out["diff"], out["winner"]
    pred3 = torch.where(diff.abs() <= cal.tie_margin, 0, torch.sign(diff)).long()
    probs = cal.clause_probs(out["logits"])
    labels = out["labels"].bool()
    preds = torch.stack([probs[:, k] >= cal.threshold[c] for k, c in enumerate(CLAUSES)], dim=1)
    per_clause = {c: round(f1(preds[:, k], labels[:, k]), 4) for k, c in enumerate(CLAUSES)}
    pair_p = torch.sigmoid(cal.pair_a * diff[decisive])
    return {
        "pairwise_accuracy": round(float((torch.sign(diff[decisive]) == winner[decisive]).float().mean()), 4),
        "three_way_accuracy": round(float((pred3 == winner).float().mean()), 4),
        "clause_micro_f1": round(f1(preds, labels), 4),
        "clause_macro_f1": round(sum(per_clause.values()) / len(per_clause), 4),
        "clause_f1": per_clause,
        "clause_ece": round(ece(probs, labels), 4),
        "clause_ece_uncalibrated": round(ece(torch.sigmoid(out["logits"]), labels), 4),
        "pair_ece": round(ece(pair_p, (winner[decisive] > 0)), 4),
        "score_ece": round(ece(cal.score_prob(out["score"]), out["passed"]), 4),
        "pairs": len(winner),
        "decisive_pairs": int(decisive.sum()),
    }


def fit_softmax_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """T in [0.05, 20] minimising the multi-class log loss of softmax(logits / T) (log-spaced grid)."""
    logits = logits.double()
    grid = torch.logspace(-1.3, 1.3, 105, dtype=torch.float64)
    losses = [float(F.cross_entropy(logits / t, y)) for t in grid]
    return float(grid[min(range(len(losses)), key=losses.__getitem__)])


def entailment_metrics(logits: torch.Tensor, y: torch.Tensor, temperature: float) -> dict[str, object]:
    """Accuracy, macro and per-label F1, ECE of the top probability, for labels in ENTAILMENT_LABELS order."""
    probs = torch.softmax(logits.double() / temperature, -1)
    conf, pred = probs.max(-1)
    per = {label: round(f1(pred == k, y == k), 4) for k, label in enumerate(ENTAILMENT_LABELS)}
    return {"accuracy": round(float((pred == y).double().mean()), 4),
            "macro_f1": round(sum(per.values()) / len(per), 4), "f1": per,
            "ece": round(ece(conf, (pred == y).double()), 4), "examples": len(y)}
