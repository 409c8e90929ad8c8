"""Shadow and A/B releases: in shadow clients only ever get the incumbent's answers while the
candidate's are compared; in A/B one user always reaches one variant."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from tests.integration.deploy.conftest import Bundles, Load, Running, fast_policy, wait_until
from tests.integration.deploy.test_release import (
    _weight,
    failed_checks,
    in_background,
    release,
    report,
)

pytestmark = pytest.mark.integration


def test_shadow_clients_see_only_the_incumbent_and_the_divergence_is_reported(
    bundles: Bundles, incumbent: Running
) -> None:
    state_dir, url = incumbent.state_dir, incumbent.url
    incumbent_version = httpx.get(f"{url}/").json()["version"]
    policy = fast_policy(iterations=3)
    with Load(url, bundles.rows, bundles.labels) as load:
        load.wait_answers(20)
        outcome = release(state_dir, str(bundles["shifted"]), policy, strategy="shadow")
    assert outcome.phase == "failed"
    data = report(outcome)
    assert "prediction-divergence" in failed_checks(data)
    # Clients: every answer from the incumbent, none failed, none delayed into an error.
    assert load.failed() == []
    assert {a.variant for a in load.answers} == {"stable"}
    assert {a.version for a in load.answers} == {incumbent_version}
    # The report compares the candidate's answers to the same requests with the incumbent's.
    divergence = data["divergence"]
    assert divergence["jensenshannon"] >= 0.1
    assert sum(divergence["counts"]["candidate"].values()) > 0
    agreement = data["agreement"]
    assert agreement["compared_requests"] > 0
    assert agreement["agreement"] < 0.9
    assert any(key.startswith("0->1") for key in agreement["confusion"])
    assert outcome.report is not None
    assert "Same request, same answer" in outcome.report.with_suffix(".md").read_text()


def test_ab_keeps_each_user_on_one_variant_then_promotes(bundles: Bundles, state_dir: Path) -> None:
    url = release(state_dir, str(bundles["stable"]), fast_policy(), strategy="direct").url
    # Each side sees other users: two random halves of a few hundred rows per window, whose
    # predicted-class shares differ by noise alone beyond the data gate's 0.1 now and then (a
    # CI run saw 0.105). What this test judges is stickiness and the promotion.
    policy = fast_policy(iterations=3, max_divergence=0.3)
    anonymous: list[str | None] = []
    with Load(url, bundles.rows, bundles.labels, key_header="X-User-ID") as load:
        load.wait_answers(20)
        thread, box = in_background(
            lambda: release(
                state_dir, str(bundles["good"]), policy, strategy="ab", ab_key="header:X-User-ID"
            )
        )
        wait_until(lambda: _weight(state_dir) > 0, 120, "the A/B split")
        # Requests without the key stay with the incumbent.
        for _ in range(20):
            r = httpx.post(f"{url}/predict", json={"instances": [bundles.rows[0]]})
            anonymous.append(r.headers.get("x-mlgate-variant"))
        thread.join(timeout=120)
    assert "error" not in box, box.get("error")
    data = report(box["outcome"])
    assert data["outcome"] == "promoted", data["reason"]
    decided = data["history"][-1]["ts"]
    during = [a for a in load.answers if data["routed_at"] + 0.5 <= a.sent <= decided]
    by_user: dict[str, set[str | None]] = defaultdict(set)
    for a in during:
        assert a.key is not None
        by_user[a.key].add(a.variant)
    assert all(len(variants) == 1 for variants in by_user.values()), by_user
    assert {next(iter(v)) for v in by_user.values()} == {"stable", "canary"}
    assert set(anonymous) == {"stable"}
    assert load.failed() == []
