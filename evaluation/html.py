"""A self-contained HTML report: the gate table, breakdown tables and matplotlib plots as base64 PNGs."""

from __future__ import annotations

import base64
import html
import io
from typing import Any


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _plots(report: dict[str, Any], latencies: list[float]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = list(report["by_scenario"])
    ax.bar(names, [report["by_scenario"][n]["tool_selection_accuracy"] or 0 for n in names], color="#4477aa")
    ax.set(title="Tool selection accuracy by scenario", ylim=(0, 1))
    ax.tick_params(axis="x", rotation=30)
    images.append(_png(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = list(report["by_complexity"])
    for offset, (key, label) in enumerate((("integration_f1_macro_lax", "F1 lax"),
                                           ("integration_f1_macro_strict", "F1 strict"))):
        ax.bar([i + 0.4 * offset for i in range(len(names))],
               [report["by_complexity"][n][key] or 0 for n in names], width=0.4, label=label)
    ax.set_xticks([i + 0.2 for i in range(len(names))], names, rotation=20)
    ax.set(title="Integration F1 by complexity", ylim=(0, 1))
    ax.legend()
    images.append(_png(fig))
    plt.close(fig)
    if latencies:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.hist(latencies, bins=30, color="#228833")
        ax.set(title="End-to-end latency per request", xlabel="seconds", ylabel="requests")
        images.append(_png(fig))
        plt.close(fig)
    return images


def _table(rows: dict[str, dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(next(iter(rows.values())))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
    body = "".join("<tr><td>" + html.escape(name) + "</td>" + "".join(f"<td>{v}</td>" for v in row.values())
                   + "</tr>" for name, row in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict[str, Any], latencies: list[float]) -> str:
    gates = {g["gate"]: {"value": g["value"], "op": g["op"], "threshold": g["threshold"], "status": g["status"]}
             for g in report["gates"]}
    summary = {k: {"value": v} for k, v in report["summary"].items() if not isinstance(v, dict)}
    speed = {k: {"value": v} for k, v in report["speed"].items()}
    images = "".join(f'<img src="data:image/png;base64,{b64}" alt="plot">' for b64 in _plots(report, latencies))
    title = f"kimi-student eval: {html.escape(str(report['header'].get('model')))}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>"
            f"<h1>{title}</h1><p>gates ok: <b>{report['gates_ok']}</b></p>"
            f"<h2>Gates</h2>{_table(gates)}<h2>Summary</h2>{_table(summary)}"
            f"<h2>By scenario</h2>{_table(report['by_scenario'])}"
            f"<h2>By complexity</h2>{_table(report['by_complexity'])}<h2>Speed (client side)</h2>{_table(speed)}"
            f"<h2>Plots</h2>{images}</body></html>")
