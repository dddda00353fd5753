"""A one-page PNG of a verification report: token lengths, stratification cells, gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.data import scenarios


def plot_report(report: dict[str, Any], tokens: list[int], cells: dict[str, int], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5), gridspec_kw={"width_ratios": [1, 1.3, 1]})
    ax1.hist(tokens, bins=50, log=True, color="#4477aa")
    ax1.axvline(8000, color="#cc3311", linestyle="--", label="long-context threshold (8k)")
    ax1.set(title="Tokens per sample (prompt + teacher)", xlabel="tokens", ylabel="samples (log)")
    ax1.legend()

    rows = [f"{s}/{c}" for s in scenarios.SCENARIOS for c in scenarios.CELL_COMPLEXITIES[s]]
    grid = [[cells.get(f"{r}/{st}", 0) for st in scenarios.STRUCTURES] for r in rows]
    im = ax2.imshow(grid, cmap="viridis", aspect="auto")
    ax2.set_xticks(range(len(scenarios.STRUCTURES)), scenarios.STRUCTURES, rotation=35, ha="right")
    ax2.set_yticks(range(len(rows)), rows)
    ax2.set_title("Samples per stratification cell")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax2.text(j, i, str(v), ha="center", va="center", color="white" if v < max(map(max, grid)) / 2 else "k",
                     fontsize=7)
    fig.colorbar(im, ax=ax2)

    gates = report["gates"]
    colors = {"PASS": "#228833", "FAIL": "#cc3311", "WARN": "#ccbb44", "INCONCLUSIVE": "#bbbbbb"}
    ax3.barh(range(len(gates)), [1] * len(gates), color=[colors[g["status"]] for g in gates])
    for i, g in enumerate(gates):
        value = f"{g['value']:.3f}" if isinstance(g["value"], float) else str(g["value"])
        ax3.text(0.02, i, f"{g['gate']}: {value} ({g['status']})", va="center", fontsize=7)
    ax3.set(title="Gates", xticks=[], yticks=[])
    ax3.invert_yaxis()
    fig.suptitle(f"{report['input']} — {report['summary']['n']} samples")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
