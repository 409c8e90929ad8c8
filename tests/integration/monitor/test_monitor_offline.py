"""`mlgate monitor` on logs written the server's way (without a server, for speed): the
label-free estimate against realised accuracy on a held-out shift, a partly corrupt log, the
columnar cache, the period, and the HTML report rendered by headless Chromium."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlgate.app.monitor.run import MonitorRequest, run_monitor
from mlgate.cli import main
from tests.integration.monitor.conftest import Project

pytestmark = pytest.mark.integration

HOUR = 3600.0


def write_log(
    project: Project,
    logs: Path,
    *,
    drift: bool,
    rows: int,
    seed: int = 31,
    per_request: int = 4,
    hours: float = 6.0,
    labels: Path | None = None,
    name: str = "predictions.jsonl",
    frame: Any = None,
) -> list[float]:
    """A prediction log as the server writes it (records of `per_request` rows spread over the
    last `hours`), predicted by the bundle's own model; optionally a labels CSV beside it.
    Returns the realised accuracy of each hour."""
    from mlgate.model.features import to_frame
    from mlgate.store.bundle import load_bundle
    from mlgate.store.demo import TARGET, generate

    bundle = load_bundle(project.bundle)
    model = bundle.load_model()
    if frame is None:
        frame = generate(rows, seed=seed, drift=drift)
    rows = len(frame)
    features = bundle.schema.features
    x = to_frame(frame, features)
    pred = model.predict(x)
    proba = model.predict_proba(x)
    # Rows start on a whole hour, so the monitor's hourly windows are the hours counted here.
    now = time.time()
    start = (now // HOUR) * HOUR - (hours - 1) * HOUR
    logs.mkdir(parents=True, exist_ok=True)
    lines, label_rows, hits = [], ["request_id,label,row"], []
    names = [f.name for f in features]
    raw = frame[names].astype(object).where(frame[names].notna(), None).to_dict(orient="records")
    for n, i in enumerate(range(0, rows, per_request)):
        ts = start + (i / rows) * hours * HOUR
        rid = f"r{seed}-{n}"
        part = range(i, min(rows, i + per_request))
        lines.append(
            json.dumps(
                {
                    "ts": ts,
                    "request_id": rid,
                    "model": "churn",
                    "version": bundle.version,
                    "runtime": "sklearn",
                    "latency_ms": 1.0 + (n % 7) * 0.5,
                    "instances": [raw[j] for j in part],
                    "predictions": [int(pred[j]) for j in part],
                    "probabilities": [proba[j].tolist() for j in part],
                }
            )
        )
        for k, j in enumerate(part):
            label_rows.append(f"{rid},{int(frame[TARGET].iloc[j])},{k}")
            hits.append((int((ts - start) // HOUR), pred[j] == frame[TARGET].iloc[j]))
    (logs / name).write_text("\n".join(lines) + "\n")
    if labels is not None:
        labels.write_text("\n".join(label_rows) + "\n")
    by_hour = [[h for w, h in hits if w == k] for k in range(int(hours))]
    return [float(np.mean(h)) for h in by_hour if h]


def request(project: Project, logs: Path, **kw: Any) -> MonitorRequest:
    from mlgate.store.project import load_project

    cfg = load_project(project.root).config
    return MonitorRequest(
        bundle_dir=project.bundle,
        logs=(logs,),
        policy=cfg.monitor,
        drift=cfg.drift,
        since="24h",
        **kw,
    )


def _cbpe(project: Project, tmp_path: Path, frame: Any) -> tuple[Any, list[float], list[float]]:
    labels = tmp_path / "labels.csv"
    hourly = write_log(project, tmp_path / "logs", drift=False, rows=0, frame=frame, labels=labels)
    result = run_monitor(request(project, tmp_path / "logs", labels=(labels,)))
    # Six hours are plotted in twelve half-hour windows (at least eight points): the hours are
    # their pairs, each window weighted by its rows.
    assert result.window_seconds == HOUR / 2
    hours: dict[int, list[Any]] = {}
    for w in result.windows:
        if w.rows:
            hours.setdefault(int(w.start // HOUR), []).append(w)
    est = [sum(w.estimated * w.rows for w in ws) / sum(w.rows for w in ws) for ws in hours.values()]
    real = [sum(w.realised * w.rows for w in ws) / sum(w.rows for w in ws) for ws in hours.values()]
    assert real == pytest.approx(hourly)
    return result, est, real


def test_cbpe_tracks_realised_accuracy_on_a_held_out_shift(
    project: Project, tmp_path: Path
) -> None:
    """Held-out data whose mix of customers shifts hour by hour (month-to-month customers first,
    two-year contracts last; the churn mechanism unchanged): the estimate from the model's own
    probabilities follows the accuracy the labels realise, window by window."""
    import pandas as pd

    from mlgate.store.demo import generate

    pool = generate(40_000, seed=41)
    m2m = pool[pool.contract == "month-to-month"]
    long = pool[pool.contract != "month-to-month"]
    two = pool[pool.contract == "two-year"]
    parts = [m2m[:1000], m2m[1000:2000], pool[:1000], long[:1000], two[:1000], two[1000:2000]]
    result, est, real = _cbpe(project, tmp_path, pd.concat(parts, ignore_index=True))
    errors = [abs(e - r) for e, r in zip(est, real, strict=True)]
    obs = result.observations
    overall = abs(obs.estimated - obs.realised)
    corr = float(np.corrcoef(est, real)[0, 1])
    print(
        f"\nCBPE on a held-out shift (6 hourly windows of 1000 rows): realised accuracy "
        f"{', '.join(f'{r:.3f}' for r in real)}; estimated {', '.join(f'{e:.3f}' for e in est)}; "
        f"|error| mean {np.mean(errors):.4f}, max {max(errors):.4f}; correlation {corr:.3f}. "
        f"Whole period: estimated {obs.estimated:.4f}, realised {obs.realised:.4f} "
        f"(holdout {obs.reference:.4f}); ROC AUC estimated {result.estimated['roc_auc']:.4f}, "
        f"realised {result.realised['roc_auc']:.4f}"
    )
    # The stated error: 0.04 per window of 1000 rows (binomial noise alone is about 0.014),
    # 0.03 over the period, and the estimate moves with the realised accuracy.
    assert max(errors) <= 0.04
    assert overall <= 0.03
    assert corr >= 0.9
    assert abs(result.estimated["roc_auc"] - result.realised["roc_auc"]) <= 0.03


def test_cbpe_outside_the_training_range_is_reported_not_trusted(
    project: Project, tmp_path: Path
) -> None:
    """The drifted demo population pushes monthly charges past anything in training: a forest
    cannot extrapolate, so its probabilities are under-confident there and the estimate falls
    below the realised accuracy. The monitor still alerts on the input drift that says so."""
    from mlgate.store.demo import generate

    result, _, _ = _cbpe(project, tmp_path, generate(3000, seed=43, drift=True))
    obs = result.observations
    print(
        f"\nCBPE outside the training range (demo --drift): estimated {obs.estimated:.4f}, "
        f"realised {obs.realised:.4f}, holdout {obs.reference:.4f}"
    )
    assert abs(obs.estimated - obs.realised) <= 0.08
    assert result.verdict.status == "alert"
    assert any(f.check == "input_drift" and f.severity == "alert" for f in result.verdict.findings)


def test_a_partly_corrupt_log_counts_bad_lines_and_keeps_versions_apart(
    project: Project, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    write_log(project, logs, drift=False, rows=800)
    clean = run_monitor(request(project, logs))
    path = logs / "predictions.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    other = dict(first, version="0ld0ld0ld0ld", request_id="from-the-old-model")
    with path.open("a") as fh:
        fh.write("this is not json\n")
        fh.write(json.dumps({"ts": "yesterday", "request_id": 3}) + "\n")
        fh.write(json.dumps(other) + "\n")
        fh.write(json.dumps(first)[:57])  # a truncated last line: the writer died mid-record
    result = run_monitor(request(project, logs))
    assert result.bad_lines == {str(path): 3}
    assert result.observations.rows == clean.observations.rows == 800
    assert result.observations.other_versions == {"0ld0ld0ld0ld": len(first["predictions"])}
    assert [f.drift.statistic for f in result.observations.features] == [
        f.drift.statistic for f in clean.observations.features
    ]
    checks = {f.check: f.severity for f in result.verdict.findings}
    assert checks["log"] == "warning"
    assert checks["versions"] == "info"
    assert result.verdict.status == "healthy"


def test_rotated_files_are_read_through_the_columnar_cache(
    project: Project, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    write_log(
        project, logs, drift=True, rows=1200, name="predictions-20260101T000000.000000Z.jsonl"
    )
    with (logs / "predictions-20260101T000000.000000Z.jsonl").open("a") as fh:
        fh.write('{"truncated": ')
    write_log(project, logs, drift=False, rows=400, seed=32)
    first = run_monitor(request(project, logs))
    cached = list((logs / ".mlgate-columnar").glob("*.parquet"))
    assert len(cached) == 1  # the rotated file, never the live one
    second = run_monitor(request(project, logs))
    assert second.cached == (str(logs / "predictions-20260101T000000.000000Z.jsonl"),)
    assert first.observations == second.observations
    assert sum(second.bad_lines.values()) == 1
    plain = run_monitor(request(project, logs, cache=False))
    assert plain.observations == first.observations


def test_the_period_leaves_older_rows_out(project: Project, tmp_path: Path) -> None:
    write_log(project, tmp_path / "logs", drift=False, rows=800, hours=6.0)
    from dataclasses import replace

    cutoff = time.time() - 3 * HOUR
    records = [
        json.loads(x) for x in (tmp_path / "logs" / "predictions.jsonl").read_text().splitlines()
    ]
    expected = sum(len(r["predictions"]) for r in records if r["ts"] >= cutoff)
    result = run_monitor(replace(request(project, tmp_path / "logs"), since="3h"))
    assert 0 < expected < 800
    assert abs(result.observations.rows - expected) <= 4  # one request may straddle the cutoff
    assert any("outside the period" in n for n in result.notes)


def test_too_little_traffic_is_a_warning_not_an_alert(project: Project, tmp_path: Path) -> None:
    write_log(project, tmp_path / "logs", drift=True, rows=40)
    result = run_monitor(request(project, tmp_path / "logs"))
    assert result.verdict.status == "healthy"
    assert [f.check for f in result.verdict.findings] == ["traffic"]


def _chromium(html: Path, tmp_path: Path, shot: Path) -> str:
    """Render `html` in headless Chromium: a full-page screenshot at `shot`, and the DOM."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by scripts/setup-system.sh"
    flags = [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,2800",
    ]  # fmt: skip
    url = html.resolve().as_uri()
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return subprocess.run(
        [chromium, *flags, "--dump-dom", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def _plots(dom: str, kind: str) -> list[str]:
    """The SVG markup of each plot of `kind` in the DOM."""
    return re.findall(rf'<svg class="plot" data-plot="{kind}".*?</svg>', dom, flags=re.S)


def _texts(svg: str, cls: str) -> list[str]:
    """The texts of the `<text class="cls">` elements of an SVG."""
    found = re.findall(rf'<text class="{cls}"[^>]*>(.*?)</text>', svg)
    return [html_lib.unescape(t) for t in found]


def _legend(page: str, kind: str) -> str:
    """The legend above the plot of `kind`."""
    before = page.split(f'data-plot="{kind}"')[0]
    return before.rsplit('<div class="legend">', 1)[-1].split("</div>")[0]


def test_the_html_report_renders_in_chromium_with_its_plots(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgate.store.demo import DRIFTED_FEATURES

    labels = tmp_path / "labels.csv"
    write_log(project, tmp_path / "logs", drift=True, rows=3000, labels=labels)
    out = tmp_path / "report"
    capsys.readouterr()
    code = main(["monitor", str(tmp_path / "logs"), "-c", str(project.root), "--out", str(out),
                 "--labels", str(labels)])  # fmt: skip
    assert code == 1
    table = capsys.readouterr().out
    html = out / "monitor.html"
    text = html.read_text()
    assert "http://" not in text
    assert "https://" not in text
    shot = tmp_path / "monitor.png"
    dom = _chromium(html, tmp_path, shot)
    with capsys.disabled():
        print(f"\nscreenshot of the monitor report: {shot}")
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for feature in DRIFTED_FEATURES:
        assert f'data-plot="histogram" data-feature="{feature}"' in dom
    assert dom.count('class="bar"') > 100
    assert 'id="status">alert<' in dom

    # Six hours of a one-hour window are at least eight points of each trend.
    (perf,) = _plots(dom, "performance-trend")
    (trend,) = _plots(dom, "drift-trend")
    assert perf.count('class="point"') >= 2 * 8
    assert trend.count('class="point"') >= 8
    assert perf.count('class="series"') == 2
    # Every value axis has distinct ticks; every category its whole label.
    for svg in [*_plots(dom, "histogram"), perf, trend]:
        ticks = _texts(svg, "tick")
        assert len(ticks) >= 2
        assert len(set(ticks)) == len(ticks), ticks
    (contract,) = [s for s in _plots(dom, "histogram") if 'data-feature="contract"' in s]
    assert set(_texts(contract, "label")) == {"month-to-month", "one-year", "two-year"}
    # The legend names the series that have data: labelled rows, so "realised" is there.
    assert "realised" in _legend(dom, "performance-trend")
    # Each statistic is named and stands beside its threshold, in the report and the CLI.
    assert "<th>drift when</th>" in dom
    assert "Jensen–Shannon distance" in dom
    assert "≥ 0.1" in dom
    assert "drift when" in table
    assert "Jensen–Shannon" in table
    assert "≥ 0.1" in table


def test_a_report_without_labels_has_no_realised_series(project: Project, tmp_path: Path) -> None:
    """No labels: the legend names no realised series, and no such line is drawn."""
    from mlgate.app.monitor.html import render_html

    write_log(project, tmp_path / "logs", drift=False, rows=800)
    page = render_html(run_monitor(request(project, tmp_path / "logs")))
    legend = _legend(page, "performance-trend")
    assert "estimated" in legend
    assert "realised" not in legend
    (perf,) = _plots(page, "performance-trend")
    assert perf.count('class="series"') == 1


def test_a_period_within_one_window_is_still_a_trend(project: Project, tmp_path: Path) -> None:
    """Twenty minutes of traffic under a one-hour window: windows sized to the data, at least
    eight of them, aligned to the configured window (a power-of-two fraction of it)."""
    write_log(project, tmp_path / "logs", drift=False, rows=800, hours=1 / 3)
    result = run_monitor(request(project, tmp_path / "logs"))
    windows = [w for w in result.windows if w.rows]
    assert len(windows) >= 8
    assert sum(w.rows for w in windows) == result.observations.rows == 800
    assert HOUR / result.window_seconds in {2.0**k for k in range(1, 21)}
    assert len(windows) <= 16  # not finer than it takes
