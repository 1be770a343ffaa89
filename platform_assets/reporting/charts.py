"""The report's charts as inline SVG (matplotlib, no pyplot state, nothing fetched when viewed)."""

from __future__ import annotations

import io
from datetime import datetime

from platform_assets.reporting.config import DIMENSION_WEIGHTS, TARGETS

_BLUE, _GREY, _RED, _GREEN = "#2563eb", "#9ca3af", "#dc2626", "#16a34a"


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG sits inside HTML


def _figure(width: float, height: float):
    from matplotlib import rcParams
    from matplotlib.figure import Figure

    rcParams["svg.hashsalt"] = "platform-report"  # stable element ids: the same data, the same file
    fig = Figure(figsize=(width, height), dpi=96)
    return fig, fig.add_subplot()


def trend_chart(points: list[tuple[datetime, float]]) -> str:
    fig, ax = _figure(7.5, 2.6)
    target = TARGETS["dq_score_percent"]
    if points:
        ax.plot(range(len(points)), [p[1] for p in points], marker="o", color=_BLUE, label="DQ score")
        labels = [p[0].strftime("%m-%d %H:%M") for p in points]
        step = max(1, len(labels) // 8)
        ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right", fontsize=8)
    ax.axhline(target, color=_RED, linestyle="--", linewidth=1, label=f"target {target:g}%")
    low = min([p[1] for p in points] + [target]) if points else target
    ax.set_ylim(max(0.0, low - 1), 100.2)
    ax.set_ylabel("score (%)")
    ax.set_title("Platform DQ score after each run", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def dimension_chart(by_dimension: dict[str, float]) -> str:
    fig, ax = _figure(5.0, 2.6)
    names = [d for d in DIMENSION_WEIGHTS if d in by_dimension]
    values = [by_dimension[d] for d in names]
    target = TARGETS["dq_score_percent"]
    colors = [_GREEN if v >= target else _RED for v in values]
    bars = ax.bar(names, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=8)
    ax.axhline(target, color=_GREY, linestyle="--", linewidth=1)
    ax.set_ylim(max(0.0, min([*values, target]) - 2), 100.5)
    ax.set_ylabel("passed rows (%)")
    ax.set_title("Pass rate per DQ dimension", fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    return _svg(fig)


def dataset_chart(scores: dict[str, float]) -> str:
    fig, ax = _figure(7.5, 0.35 * max(len(scores), 2) + 0.8)
    names = list(scores)
    values = [scores[n] for n in names]
    target = TARGETS["dq_score_percent"]
    ax.barh(names, values, color=[_GREEN if v >= target else _RED for v in values])
    ax.axvline(target, color=_GREY, linestyle="--", linewidth=1)
    ax.set_xlim(max(0.0, min([*values, target]) - 2), 100.5)
    ax.invert_yaxis()
    ax.set_xlabel("DQ score (%)")
    ax.set_title("DQ score per dataset", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    return _svg(fig)
