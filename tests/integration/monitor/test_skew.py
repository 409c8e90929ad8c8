"""`mlgate monitor --skew FILE`: the features the server used against the same rows computed
offline, joined on request id and row.

- The same values on both sides: no skew finding, exit 0.
- One feature served in other units (a serving path that computes monthly charges in cents):
  exit 1 with an alert naming that feature only, through the same alert channels (the webhook).
- A category spelled otherwise when served: an alert for that feature (L-infinity).
- An offline file without request ids: exit 2 naming the file and the column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlgate.app.monitor.run import run_monitor
from mlgate.cli import main
from mlgate.store.demo import generate
from tests.integration.monitor.conftest import Project, Receiver
from tests.integration.monitor.test_monitor_offline import request, write_log

pytestmark = pytest.mark.integration

ROWS, PER_REQUEST, SEED = 2000, 4, 31


def _offline(frame: pd.DataFrame, path: Path) -> Path:
    """The rows as the offline pipeline computes them, keyed as write_log keys the log."""
    keyed = frame.drop(columns=["churned"]).copy()
    keyed.insert(0, "row", [i % PER_REQUEST for i in range(len(frame))])
    keyed.insert(0, "request_id", [f"r{SEED}-{i // PER_REQUEST}" for i in range(len(frame))])
    keyed.to_csv(path, index=False)
    return path


def _skew_findings(result: object) -> list[str | None]:
    verdict = result.verdict  # type: ignore[attr-defined]
    return [f.subject for f in verdict.findings if f.check == "skew"]


def test_no_skew_when_the_served_values_are_the_offline_ones(
    project: Project, tmp_path: Path
) -> None:
    frame = generate(ROWS, seed=SEED, drift=False)
    write_log(project, tmp_path / "logs", drift=False, rows=0, frame=frame, seed=SEED)
    offline = _offline(frame, tmp_path / "offline.csv")
    result = run_monitor(request(project, tmp_path / "logs", skew=offline))
    assert _skew_findings(result) == [], [s for s in result.observations.skew if s.failed]
    skews = {s.name: s for s in result.observations.skew}
    assert set(skews) == {f.name for f in result.observations.features}
    assert all(s.rows == ROWS and s.differing == 0 for s in skews.values())
    assert any(n.startswith(f"skew: {ROWS} row(s) joined") for n in result.notes)


def test_a_feature_served_in_other_units_is_an_alert_naming_it_only(
    project: Project, tmp_path: Path, receiver: object
) -> None:
    frame = generate(ROWS, seed=SEED, drift=False)
    served = frame.copy()
    served["monthly_charges"] = served["monthly_charges"] * 100  # cents, not dollars
    write_log(project, tmp_path / "logs", drift=False, rows=0, frame=served, seed=SEED)
    offline = _offline(frame, tmp_path / "offline.csv")
    result = run_monitor(request(project, tmp_path / "logs", skew=offline))
    assert _skew_findings(result) == ["monthly_charges"]
    (finding,) = [f for f in result.verdict.findings if f.check == "skew"]
    assert finding.severity == "alert"
    assert f"monthly_charges: {ROWS} of {ROWS} rows served differ" in finding.message
    hook: Receiver = receiver(lambda _r: 200)  # type: ignore[operator]
    code = main(
        [
            "monitor", str(tmp_path / "logs"), "--config", str(project.root),
            "--bundle", str(project.bundle), "--since", "24h", "--skew", str(offline),
            "--webhook", hook.url, "--out", str(tmp_path / "report"),
        ]
    )  # fmt: skip
    assert code == 1
    (sent,) = hook.requests
    assert "monthly_charges" in json.dumps(sent.body)
    assert "tenure_months" not in json.dumps(sent.body)


def test_a_category_spelled_otherwise_when_served_is_an_alert(
    project: Project, tmp_path: Path
) -> None:
    frame = generate(ROWS, seed=SEED, drift=False)
    served = frame.copy()
    served["contract"] = served["contract"].str.upper()
    write_log(project, tmp_path / "logs", drift=False, rows=0, frame=served, seed=SEED)
    offline = _offline(frame, tmp_path / "offline.csv")
    result = run_monitor(request(project, tmp_path / "logs", skew=offline))
    assert "contract" in _skew_findings(result)
    (skew,) = [s for s in result.observations.skew if s.name == "contract"]
    assert skew.distance_kind == "l_infinity"
    assert skew.distance > 0.1


def test_an_offline_file_without_request_ids_is_exit_2_naming_it(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = generate(200, seed=SEED, drift=False)
    write_log(project, tmp_path / "logs", drift=False, rows=0, frame=frame, seed=SEED)
    offline = tmp_path / "offline.csv"
    frame.to_csv(offline, index=False)
    argv = ["monitor", str(tmp_path / "logs"), "--config", str(project.root)]
    code = main([*argv, "--bundle", str(project.bundle), "--skew", str(offline)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--skew {offline}: no request_id column" in err
    assert "Traceback" not in err
