"""Training curves as a PNG: loss (train and held-out) and held-out tool-call accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_training(history: dict[str, list[dict[str, Any]]], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    train, evals = history.get("train", []), history.get("eval", [])
    ax1.plot([h["step"] for h in train], [h["loss"] for h in train], lw=1, label="train loss", color="#4477aa")
    if evals:
        ax1.plot([e["step"] for e in evals], [e["val_loss"] for e in evals], "o-", label="held-out loss",
                 color="#cc3311")
    ax1.set(xlabel="step", ylabel="loss (nats / target token)", yscale="log", title=f"{title}: loss")
    ax1.legend()
    for key, color in (("tool_name_acc", "#228833"), ("exact_args_acc", "#aa3377"), ("no_call_acc", "#ccbb44"),
                       ("alpha", "#66ccee"), ("greedy_acceptance", "#ee6677")):  # the last two: a drafter's
        points = [(e["step"], e[key]) for e in evals if key in e]
        if points:
            ax2.plot(*zip(*points, strict=True), "o-", label=key, color=color)
    ax2.set(xlabel="step", ylabel="held-out accuracy / acceptance", ylim=(0, 1.02), title=f"{title}: held out")
    if ax2.lines:
        ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
