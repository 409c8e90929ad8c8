"""The release report's Markdown shows predicted classes, labels and reasons as text: a class
a model learned from data, or a reason quoting a server, changes no structure of the report."""

from __future__ import annotations

import time

import pytest
from markdown_it import MarkdownIt

from mlgate.app.rollout.report import markdown
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import RolloutRecord
from tests.unit.app.rollout.fakes import variant

pytestmark = pytest.mark.unit

HOSTILE = "<script>alert(1)</script> <!channel> a | b\nc *x*"
GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def test_hostile_classes_and_reasons_are_inert() -> None:
    now = time.time()
    candidate = variant("127.0.0.1:9001", HOSTILE, 2)
    rollout = RolloutRecord(
        id="r1", strategy="canary", candidate=candidate, incumbent=HOSTILE,
        policy=CanaryConfig(), started_at=now, updated_at=now, reason=HOSTILE,
    )  # fmt: skip
    counts = {"incumbent": {HOSTILE: 3.0, "0": 1.0}, "candidate": {HOSTILE: 2.0}}
    report = {
        "candidate": HOSTILE,
        "outcome": "rolled back",
        "divergence": {"counts": counts, "jensenshannon": 0.1, "psi": 0.2},
    }
    text = markdown(rollout, report)
    tokens = GFM.parse(text)
    children = [c for t in tokens for c in t.children or []]
    assert not [t for t in tokens if t.type.startswith("html")]
    assert not [c for c in children if c.type.startswith(("html", "link", "em", "strong"))]
    # The predictions table: its header and the two classes; the windows table: its header.
    assert [t.type for t in tokens].count("tr_open") == 4
    assert [t.type for t in tokens].count("list_item_open") == 5
    rendered = GFM.render(text)
    assert "<script" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; a | b c *x*" in rendered
