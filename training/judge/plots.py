"""Judge training plots: loss curves with validation accuracy, a clause reliability diagram, per-clause F1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from arbiter.judge import CLAUSES
from modeling.judge import Calibration


def plot_judge(history: dict[str, list[dict[str, Any]]], test_out: dict[str, torch.Tensor], cal: Calibration,
               test_metrics: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.5))
    train = history.get("train", [])
    for key, color in (("loss", "#4477aa"), ("rank", "#228833"), ("clause", "#cc3311")):
        ax1.plot([h["step"] for h in train], [h[key] for h in train], lw=1, label=f"train {key}", color=color)
    ax1.set(xlabel="step", ylabel="loss", title="Judge: training loss")
    evals = history.get("eval", [])
    if evals:
        acc = ax1.twinx()
        acc.plot([e["step"] for e in evals], [e["pairwise_accuracy"] for e in evals], "o--", color="#aa3377",
                 label="val pairwise acc")
        acc.set(ylim=(0, 1.02), ylabel="validation accuracy")
    ax1.legend(loc="upper right")

    probs = cal.clause_probs(test_out["logits"]).flatten()
    labels = test_out["labels"].flatten()
    edges = torch.linspace(0, 1, 11)
    centers, rates = [], []
    for k in range(10):
        sel = (probs >= edges[k]) & ((probs <= edges[k + 1]) if k == 9 else (probs < edges[k + 1]))
        if sel.any():
            centers.append(float(probs[sel].mean()))
            rates.append(float(labels[sel].mean()))
    ax2.plot([0, 1], [0, 1], ":", color="grey")
    ax2.plot(centers, rates, "o-", color="#4477aa", label=f"clauses (ECE {test_metrics['clause_ece']:.3f})")
    ax2.set(xlabel="predicted probability", ylabel="observed frequency", title="Test: clause reliability")
    ax2.legend(loc="upper left")

    f1s = [test_metrics["clause_f1"][c] for c in CLAUSES]
    ax3.barh([c.replace("_", " ").lower() for c in CLAUSES], f1s, color="#228833")
    acc = test_metrics["pairwise_accuracy"]
    ax3.set(xlim=(0, 1), xlabel="F1", title=f"Test: per-clause F1 (pairwise accuracy {acc:.3f})")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
