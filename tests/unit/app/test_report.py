"""The PR report as a pure function of the run's JSON documents."""

from __future__ import annotations

from typing import Any

import pytest
from markdown_it import MarkdownIt

from mlgate.app.report import build_report, marker
from mlgate.core.records.gate import GateReport
from mlgate.core.validate import ValidationReport

pytestmark = pytest.mark.unit


def _gate(passed: bool, champion: dict[str, Any] | None) -> GateReport:
    return GateReport.parse(_gate_file(passed, champion))


def _gate_file(passed: bool, champion: dict[str, Any] | None) -> dict[str, Any]:
    """A gate.json as an unversioned mlgate wrote it (every key it had)."""
    return {
        "passed": passed,
        "model": "m",
        "bundle": "models/model",
        "evaluated_at": "2026-12-01T20:00:00+00:00",
        "holdout_rows": 400,
        "challenger": {"roc_auc": 0.8, "log_loss": 0.5},
        "champion": champion,
        "checks": [
            {
                "metric": "roc_auc",
                "kind": "threshold",
                "value": 0.8,
                "bound": 0.7,
                "higher_is_better": True,
                "passed": passed,
                "message": "roc_auc = 0.8 | required >= 0.7",
            }
        ],
        "failures": [] if passed else ["roc_auc too low"],
        "notes": [] if champion else ["no champion to compare with"],
    }


VALIDATION_FILE = {
    "passed": True,
    "rows": 10,
    "violations": [],
    "drift": {
        "columns": [],
        "share": 0.0,
        "share_threshold": 0.5,
        "dataset_drift": False,
        "drifted_columns": [],
    },
}
VALIDATION = ValidationReport.parse(VALIDATION_FILE)


def test_marker_is_the_first_line_and_stable() -> None:
    a = build_report("churn", gate=_gate(True, None), validation=VALIDATION, meta=None)
    b = build_report("churn", gate=_gate(False, None), validation=None, meta=None)
    assert (
        a.splitlines()[0] == b.splitlines()[0] == marker("churn") == "<!-- mlgate-report:churn -->"
    )


def test_without_champion_the_report_says_so_loudly_and_how_to_keep_one() -> None:
    text = build_report("m", gate=_gate(True, None), validation=VALIDATION, meta=None)
    assert "> [!WARNING]" in text
    assert "**No champion: the champion gates did not run.**" in text
    assert "evaluation.champion_bundle" in text
    assert "| metric | challenger | baseline |" in text
    assert "passed every gate" in text


def test_the_champion_interval_and_the_baseline_are_in_the_tables() -> None:
    raw = _gate_file(True, {"label": "champion v3", "metrics": {"roc_auc": 0.79, "log_loss": 0.5}})
    raw["baseline"] = {"roc_auc": 0.5, "log_loss": 0.69}
    raw["checks"].append(
        {
            "metric": "roc_auc",
            "kind": "min_absolute_change",
            "value": 0.01,
            "bound": -0.01,
            "higher_is_better": True,
            "passed": True,
            "interval": [-0.012, 0.031],
            "message": "roc_auc = 0.8 vs champion 0.79",
        }
    )
    text = build_report("m", gate=GateReport.parse(raw), validation=VALIDATION, meta=None)
    assert "| roc_auc | 0.8000 | 0.5000 | 0.7900 | +0.0100 ▲ |" in text
    assert "95% interval of the improvement" in text
    assert "| -0.0120 … +0.0310 |" in text


def test_deltas_respect_the_metric_direction() -> None:
    champion = {"label": "champion v3", "metrics": {"roc_auc": 0.7, "log_loss": 0.6}}
    text = build_report("m", gate=_gate(True, champion), validation=VALIDATION, meta=None)
    assert "| roc_auc | 0.8000 | – | 0.7000 | +0.1000 ▲ |" in text
    # log_loss went down: an improvement.
    assert "| log_loss | 0.5000 | – | 0.6000 | -0.1000 ▲ |" in text


def test_pipes_in_messages_do_not_break_the_table() -> None:
    text = build_report("m", gate=_gate(True, None), validation=VALIDATION, meta=None)
    assert "roc_auc = 0.8 \\| required >= 0.7" in text


def test_failed_data_gate_fails_the_report_even_with_an_old_passing_gate() -> None:
    bad = VALIDATION.model_copy(update={"passed": False})
    text = build_report("m", gate=None, validation=bad, meta=None)
    assert "❌ failed" in text.splitlines()[1]
    assert "data gate failed" in text


GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])
HOSTILE = "<script>alert(1)</script> <!channel> a | b\nc *bold* [x](http://y)"


def test_values_from_the_data_are_inert_markdown() -> None:
    column = "<img src=x onerror=alert(1)>|c"
    raw = {
        **VALIDATION_FILE,
        "passed": False,
        "violations": [
            {"column": column, "check": "category", "count": 3, "message": HOSTILE},
        ],
        "drift": {
            **VALIDATION_FILE["drift"],  # type: ignore[dict-item]
            "columns": [
                {"column": column, "kind": "categorical", "drifted": True, "detail": HOSTILE},
            ],
            "drifted_columns": [column],
        },
    }
    gate = _gate_file(False, None)
    gate["failures"] = [HOSTILE]
    gate["notes"] = [HOSTILE]
    text = build_report(
        "m", gate=GateReport.parse(gate), validation=ValidationReport.parse(raw), meta=None
    )
    tokens = GFM.parse(text)
    blocks = [t.content.strip() for t in tokens if t.type == "html_block"]
    assert all(b.startswith(("<!-- mlgate-report:", "<details>", "</details>")) for b in blocks)
    children = [c for t in tokens for c in t.children or []]
    inline_html = {c.content for c in children if c.type == "html_inline"}
    assert inline_html <= {"<sub>", "</sub>"}
    assert not [c for c in children if c.type in ("link_open", "s_open")]
    emphasis = ("strong_open", "em_open")
    marked = {children[i + 1].content for i, c in enumerate(children) if c.type in emphasis}
    # Only the report's own emphasis.
    assert marked == {
        "Failed:",
        "No champion: the champion gates did not run.",
        "Keeping a champion",
    }
    rendered = GFM.render(text)
    assert "<script" not in rendered
    assert "<img" not in rendered
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; a | b c *bold* [x](http://y)"
        in rendered
    )
    violations = text[text.index("| column | check |") :].split("\n\n")[0].splitlines()
    assert len(violations) == 3  # header, rule, the one violation: nothing split it
