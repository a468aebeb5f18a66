"""A self-contained HTML report: learning curves of a run and per-token SC-weight heatmaps.

Curves come from a run directory's ``metrics.jsonl`` (one JSON object per step, written by the trainer).
Heatmaps follow the paper's Figure 10: each agent token shaded by its SC weight f(D) in [0, 1); prompt and
observation tokens are shown but left unshaded.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Metrics plotted when present, in this order.
CURVES = ["reward", "success", "eval/success", "sc/weight_mean", "sc/d_p75", "entropy", "grad_norm",
          "time/step_s", "util/generator", "util/learner", "async/staleness_mean", "async/offpolicy_token_share"]


@dataclass
class TokenHeat:
    """One trajectory to draw: its token strings, loss mask and per-token weights (None off agent tokens)."""

    title: str
    tokens: Sequence[str]
    mask: Sequence[int]
    weights: Sequence[float | None]


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-step metrics a run wrote (``metrics.jsonl``), skipping a truncated last line."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in run directory {str(run_dir)!r}")
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a run killed mid-write leaves at most one partial line
    return rows


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over up to ``window`` points (the first points average what there is)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def smoothing_window(points: int) -> int:
    """The window the curves are smoothed with: a fifth of the points, between 1 and 25."""
    return max(1, min(25, points // 5))


def curves_figure(rows: list[dict], keys: Sequence[str] = CURVES):
    """A matplotlib figure of one small plot per metric present in ``rows`` (x = step), or None: the raw
    values as a thin pale line, their moving average (:func:`smooth`) drawn over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [k for k in keys if any(k in r and r[k] is not None for r in rows)]
    if not present:
        return None
    cols = min(3, len(present))
    nrows = (len(present) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.8 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, present):
        pts = [(r["step"], r[key]) for r in rows if key in r and r[key] is not None]
        x, y = [p[0] for p in pts], [float(p[1]) for p in pts]
        w = smoothing_window(len(pts))
        ax.plot(x, y, marker="o" if len(pts) < 30 else None, ms=3, lw=0.8, alpha=0.35, color="C0",
                zorder=2, label="raw")
        ax.plot(x, smooth(y, w), lw=2.0, color="C0", zorder=3, label=f"mean of {w}" if w > 1 else "value")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        if w > 1:
            ax.legend(fontsize=7, loc="best", frameon=False)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def curves_png(rows: list[dict], keys: Sequence[str] = CURVES) -> bytes | None:
    """:func:`curves_figure` as a PNG; None when there is nothing to plot."""
    import matplotlib.pyplot as plt

    fig = curves_figure(rows, keys)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def format_value(v: float | int) -> str:
    """A summary value as shown: counts as integers, rates with four decimals."""
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else f"{v:.4f}"


def heatmap_html(item: TokenHeat) -> str:
    """One trajectory as HTML spans: agent tokens on a white→red scale by weight, others plain grey."""
    spans = []
    for tok, m, w in zip(item.tokens, item.mask, item.weights):
        text = html.escape(tok).replace("\n", "↵<br>")
        if m and w is not None:
            a = max(0.0, min(1.0, float(w)))
            spans.append(f'<span class="t" style="background:rgba(220,40,40,{a:.3f})" title="w={a:.3f}">{text}</span>')
        else:
            spans.append(f'<span class="o">{text}</span>')
    return f"<h3>{html.escape(item.title)}</h3><div class='traj'>{''.join(spans)}</div>"


def write_report(path: str | Path, *, title: str, summary: dict[str, float | int] | None = None,
                 run_dir: str | Path | None = None, heatmaps: Sequence[TokenHeat] = (),
                 heatmaps_missing: str | None = None) -> Path:
    """Write the HTML report to ``path`` and return it; ``heatmaps_missing`` says why there are none."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if summary:
        from agentrl.evaluation.metrics import reading

        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{format_value(v)}</td></tr>" for k, v in summary.items())
        parts.append(f"<h2>Summary</h2><table>{rows}</table><p>{html.escape(reading(summary))}</p>")
    if run_dir is not None:
        png = curves_png(read_metrics(run_dir))
        if png:
            data = base64.b64encode(png).decode()
            parts.append(f"<h2>Learning curves</h2><img alt='learning curves' src='data:image/png;base64,{data}'>")
    if heatmaps:
        parts.append("<h2>Per-token SC weights</h2><p>Agent tokens shaded by their weight f(D) "
                     "(white = 0, red = 1); prompt and observation tokens unshaded.</p>")
        parts.extend(heatmap_html(h) for h in heatmaps)
    elif heatmaps_missing:
        parts.append(f"<h2>Per-token SC weights</h2><p>None drawn: {html.escape(heatmaps_missing)}</p>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td{border:1px solid #ccc;padding:2px 8px}.traj{font-family:monospace;font-size:12px;"
             "line-height:1.7;border:1px solid #ddd;padding:8px;white-space:pre-wrap}.o{color:#888}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                   f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return out
