"""The monitor's HTML report: one self-contained file (inline CSS and SVG, no script, no CDN).

Plots are SVG drawn here (a few dozen lines beat a plotting library in the monitor's
dependencies): reference vs current histograms of the drifted features and of the predictions,
the share of drifted features per time window, and estimated vs realised performance per
window against the holdout. Every plot is an `<svg class="plot" data-plot="...">`.

What a reader sees is finished: the time windows are sized to the data (analyze.py), a value
axis has round, distinct ticks (`nice_ticks`), a category keeps its whole label (turned when
the labels do not fit side by side), a legend names only the series that have data, and every
drift statistic is named and shown beside the threshold it is judged against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

from mlgate.app.monitor.run import when
from mlgate.core.drift import drift_rule, statistic_name
from mlgate.core.histograms import nice_ticks
from mlgate.core.records.monitor import Histogram, MonitorResult

W, H = 560, 220
PAD_L, PAD_R, PAD_T, PAD_B = 52, 12, 12, 40
REF_COLOR, CUR_COLOR, EST_COLOR, LINE_COLOR = "#8da0cb", "#fc8d62", "#66c2a5", "#444"
CHAR_PX = 6.2  # the width of a character of the 10px labels, near enough to lay them out
TURN = 40  # degrees a category label turns when the labels do not fit side by side
ALL_LABELS = 12  # up to this many bars, every bar is labelled

Series = tuple[str, str, Sequence[float | None]]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.status{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.alert{background:#c0392b} .healthy{background:#27ae60}
table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4} .sev-alert{color:#c0392b;font-weight:600} .sev-warning{color:#b7791f}
.grid{display:flex;flex-wrap:wrap;gap:16px} figure{margin:0} figcaption{font-weight:600}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.muted{color:#777} td.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span style="background:{c}"></span>{escape(n)}' for n, c in items)
        + "</div>"
    )


def _tick_text(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return f"{value:.{decimals}f}"


def _axis(ticks: Sequence[float], py: Callable[[float], float]) -> str:
    """Horizontal grid lines and their labels at `ticks` (`py` maps a value to its y)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    parts = []
    for v in ticks:
        y = py(v)
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text class="tick" x="{PAD_L - 4}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end">{_tick_text(v, step)}</text>'
        )
    return "".join(parts)


def _bar_labels(labels: Sequence[str], slot: float) -> tuple[str, int]:
    """Every category's whole label under its bars (turned when they do not fit side by side),
    or every few bins' of a numeric histogram; and the height the labels take."""
    n = len(labels)
    widest = max((len(label) * CHAR_PX for label in labels), default=0.0)
    step = 1 if n <= ALL_LABELS else max(n // 8, math.ceil((widest + 8) / slot))
    shown = range(0, n, step)
    turned = widest > slot * step - 4
    room = int(widest * math.sin(math.radians(TURN))) + 24 if turned else PAD_B
    parts = []
    for i in shown:
        x = PAD_L + (i + 0.5) * slot
        label = escape(labels[i])
        if turned:
            parts.append(
                f'<text class="label" x="{x:.1f}" y="{H - PAD_B + 12}" font-size="10" '
                f'text-anchor="end" transform="rotate(-{TURN} {x:.1f} {H - PAD_B + 12})">'
                f"{label}</text>"
            )
        else:
            parts.append(
                f'<text class="label" x="{x:.1f}" y="{H - PAD_B + 14}" font-size="10" '
                f'text-anchor="middle">{label}</text>'
            )
    return "".join(parts), max(room, PAD_B)


def bar_chart(kind: str, hist: Histogram) -> str:
    """Reference and current shares side by side, one pair of bars per bin."""
    n = max(len(hist.labels), 1)
    ticks = nice_ticks(0.0, max([*hist.reference, *hist.current, 1e-9]), 5)
    top = ticks[-1]
    inner_w = W - PAD_L - PAD_R
    inner_h = H - PAD_T - PAD_B
    slot = inner_w / n
    bars = []
    for i, (r, c) in enumerate(zip(hist.reference, hist.current, strict=True)):
        x = PAD_L + i * slot
        for j, (v, color) in enumerate(((r, REF_COLOR), (c, CUR_COLOR))):
            h = inner_h * v / top
            bars.append(
                f'<rect class="bar" x="{x + j * slot / 2:.1f}" y="{PAD_T + inner_h - h:.1f}" '
                f'width="{max(slot / 2 - 1, 0.5):.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(hist.labels[i])}: {'reference' if j == 0 else 'current'} "
                f"{v:.1%}</title></rect>"
            )
    labels, room = _bar_labels(hist.labels, slot)
    height = H - PAD_B + room
    return (
        f'<svg class="plot" data-plot="{kind}" data-feature="{escape(hist.feature)}" '
        f'width="{W}" height="{height}" viewBox="0 0 {W} {height}" role="img" '
        f'aria-label="{escape(hist.feature)}: reference vs current">'
        + _axis(ticks, lambda v: PAD_T + inner_h * (1 - v / top))
        + "".join(bars)
        + labels
        + "</svg>"
    )


def line_chart(
    kind: str,
    xs: Sequence[str],
    series: Sequence[Series],
    lines: Sequence[tuple[str, float]] = (),
    lo: float | None = None,
    hi: float | None = None,
) -> str:
    """Series over time windows (gaps where a value is None), with horizontal reference lines."""
    values = [v for _, _, vs in series for v in vs if v is not None] + [v for _, v in lines]
    ticks = nice_ticks(
        min(values, default=0.0) if lo is None else lo,
        max(values, default=1.0) if hi is None else hi,
    )
    lo, hi = ticks[0], ticks[-1]
    n = max(len(xs), 1)
    inner_w = W - PAD_L - PAD_R
    inner_h = H - PAD_T - PAD_B

    def px(i: int) -> float:
        return PAD_L + inner_w * (i + 0.5) / n

    def py(v: float) -> float:
        return PAD_T + inner_h * (1 - (v - lo) / (hi - lo))

    parts = [_axis(ticks, py)]
    for name, value in lines:
        parts.append(
            f'<line class="reference" x1="{PAD_L}" x2="{W - PAD_R}" y1="{py(value):.1f}" '
            f'y2="{py(value):.1f}" stroke="{LINE_COLOR}" stroke-dasharray="4 3">'
            f"<title>{escape(name)} {value:.3g}</title></line>"
        )
    for name, color, vs in series:
        pts = [(px(i), py(v)) for i, v in enumerate(vs) if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(
                f'<polyline class="series" points="{path}" fill="none" stroke="{color}" '
                f'stroke-width="2"><title>{escape(name)}</title></polyline>'
            )
        parts.extend(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
            f"<title>{escape(name)}</title></circle>"
            for x, y in pts
        )
    step = max(1, math.ceil(n / 6))
    parts.extend(
        f'<text class="label" x="{px(i):.1f}" y="{H - PAD_B + 14}" font-size="10" '
        f'text-anchor="middle">{escape(xs[i])}</text>'
        for i in range(0, n, step)
    )
    return (
        f'<svg class="plot" data-plot="{kind}" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img">' + "".join(parts) + "</svg>"
    )


def _findings(result: MonitorResult) -> str:
    if not result.verdict.findings:
        return "<p>Nothing to report.</p>"
    rows = "".join(
        f'<tr><td class="sev-{f.severity}">{f.severity}</td><td>{escape(f.check)}</td>'
        f"<td>{escape(f.message)}</td></tr>"
        for f in result.verdict.findings
    )
    return f"<table><tr><th>severity</th><th>check</th><th>finding</th></tr>{rows}</table>"


def _features(result: MonitorResult) -> str:
    rows = []
    for f in result.observations.features:
        d = f.drift
        stat = "-" if d.statistic is None else f"{d.statistic:.4g}"
        rows.append(
            f"<tr><td>{escape(f.name)}</td><td>{d.kind}</td>"
            f"<td>{escape(statistic_name(d.method))}</td><td class='num'>{stat}</td>"
            f"<td class='num'>{escape(drift_rule(d.method, d.threshold))}</td>"
            f"<td>{'<b>yes</b>' if d.drifted else 'no'}</td><td>{f.missing_rate:.1%}</td>"
            f"<td>{f.out_of_schema_rate:.1%}</td><td>{f.unseen_rate:.1%}</td></tr>"
        )
    head = (
        "<tr><th>feature</th><th>kind</th><th>statistic</th><th>value</th><th>drift when</th>"
        "<th>drift</th><th>missing</th><th>out of schema</th><th>unseen</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _time_label(ts: float, window: float) -> str:
    """A window's start, to the precision its width needs."""
    fmt = "%H:%M:%S" if window < 60 else "%m-%d %H:%M" if window < 86_400 else "%Y-%m-%d"
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


def _grid(result: MonitorResult) -> tuple[list[str], list[int | None]]:
    """Every window from the first to the last (a gap where none had rows), as x labels, and
    each one's position in `result.windows` (None in a gap)."""
    size = result.window_seconds
    if not result.windows:
        return [], []
    first = round(result.windows[0].start / size)
    at = {round(w.start / size) - first: i for i, w in enumerate(result.windows)}
    slots = max(at) + 1
    xs = [_time_label((first + k) * size, size) for k in range(slots)]
    return xs, [at.get(k) for k in range(slots)]


def _charts(result: MonitorResult) -> tuple[str, str, str, str, str]:
    """The histograms of what drifted, the drift trend and the performance trend, and the
    legends of the two trends (only the series that have data)."""
    obs = result.observations
    drifted = {f.name for f in obs.features if f.drift.drifted}
    hists = [h for h in result.histograms if h.feature in drifted]
    preds = [h for h in result.histograms if h.feature in ("prediction", "score")]
    figures = "".join(
        f"<figure><figcaption>{escape(h.feature)}</figcaption>{bar_chart('histogram', h)}</figure>"
        for h in [*hists, *preds]
    )
    xs, slots = _grid(result)
    windows = [None if i is None else result.windows[i] for i in slots]
    share = [
        (len(w.drifted) / len(obs.features)) if w is not None and obs.features and w.drift else None
        for w in windows
    ]
    trend_series = [("share of features drifted", CUR_COLOR, share)]
    trend_lines = [("dataset drift threshold", obs.drift_share_threshold)]
    trend = line_chart("drift-trend", xs, trend_series, trend_lines, lo=0.0, hi=1.0)
    perf_series = [
        ("estimated (no labels)", EST_COLOR, [None if w is None else w.estimated for w in windows]),
        ("realised (labels)", CUR_COLOR, [None if w is None else w.realised for w in windows]),
    ]
    perf_lines = [("holdout", obs.reference)] if obs.reference is not None else []
    perf = line_chart("performance-trend", xs, perf_series, perf_lines)
    return figures, trend, perf, _key(perf_series, perf_lines), _key(trend_series, trend_lines)


def _key(series: Sequence[Series], lines: Sequence[tuple[str, float]]) -> str:
    """The legend of a chart: its series that have a value, and its reference lines."""
    items = [
        (name.split(" (")[0], color) for name, color, vs in series if any(v is not None for v in vs)
    ]
    items += [(name, LINE_COLOR) for name, _ in lines]
    return _legend(items) if items else ""


def _latency(lat: dict[str, float]) -> str:
    if not lat:
        return "no latency recorded"
    return (
        f"p50 {lat.get('p50', 0):.2f} ms · p95 {lat.get('p95', 0):.2f} ms · "
        f"p99 {lat.get('p99', 0):.2f} ms over {int(lat.get('requests', 0))} requests"
    )


def render_html(result: MonitorResult) -> str:
    """The whole report as one HTML document."""
    obs = result.observations
    figures, trend, perf, perf_legend, trend_legend = _charts(result)
    status = result.verdict.status
    latency = _latency(result.latency)
    named = _registered(result)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>mlgate monitor: {escape(_title(result))}</title>
<style>{CSS}</style></head>
<body>
<h1 id="model">{escape(result.model)} {named}<span class="muted" id="bundle">bundle \
{escape(result.version)}</span>
<span class="status {status}" id="status">{status}</span></h1>
<p class="muted">{obs.rows} predicted rows in {obs.requests} requests, {obs.errors} refused,
{escape(when(result.first))} to {escape(when(result.last))};
generated {escape(result.generated_at)}.</p>
{_notes(result.notes)}
<h2>Findings</h2>{_findings(result)}
<h2>Performance</h2>
<p>{escape(obs.metric or "-")}: holdout {_fmt(obs.reference)}, estimated without labels
{_fmt(obs.estimated)}, realised {_fmt(obs.realised)} on {obs.labelled} labelled rows.</p>
{perf_legend}
{perf}
<h2>Drift over time</h2>{trend_legend}{trend}
<h2>Reference vs current</h2>{_legend([("reference", REF_COLOR), ("current", CUR_COLOR)])}
<div class="grid">{figures or "<p>No feature drifted.</p>"}</div>
<h2>Features</h2>{_features(result)}
<h2>Latency</h2><p>{latency}</p>
<p class="muted">Log files: {len(result.files)} ({len(result.cached)} from the columnar cache);
unreadable lines skipped: {sum(result.bad_lines.values())}.</p>
</body></html>
"""


def _registered(result: MonitorResult) -> str:
    """The registry's name for the bundle (`v3 (champion)`), when the registry knows it."""
    if result.registered is None:
        return ""
    return f'<span id="registered">{escape(result.registered.label)}</span> '


def _title(result: MonitorResult) -> str:
    named = f"{result.registered.label} " if result.registered is not None else ""
    return f"{result.model} {named}bundle {result.version}"


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in notes)
    return f'<ul class="notes muted">{items}</ul>'


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
