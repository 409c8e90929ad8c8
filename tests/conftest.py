"""Policy for every suite: where the machine provides every system component, none may skip.

Tests that need nginx, Prometheus, Chromium, podman, a registry server or a tmpfs mount skip,
saying why, on a machine without them. `make check` as root first installs and starts all of
them (`make system`, `scripts/with-mlflow.sh`) and sets MLGATE_TEST_REQUIRE_SYSTEM=1; then a
skip means a component that should be there is not, and it fails the test instead of letting
the run pass with less coverage than it claims. Only the skips listed in ACCEPTED_SKIPS stand:
they are what being root rules out, not something root could install.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRE_ENV = "MLGATE_TEST_REQUIRE_SYSTEM"

# Substrings of skip reasons that stand under MLGATE_TEST_REQUIRE_SYSTEM=1.
ACCEPTED_SKIPS = (
    # Permission tests: root reads a file whatever its mode, so there is nothing to test.
    "root reads files whatever their mode",
)


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a skipped report gives (pytest keeps it as (path, line, "Skipped: why"))."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def refuse_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn a skipped report into a failure when the machine should provide what it lacked."""
    if os.environ.get(REQUIRE_ENV) != "1" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if any(accepted in reason for accepted in ACCEPTED_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped, but {REQUIRE_ENV}=1 (`make check` as root) promises every system "
        f"component: {reason}\nRun `make system` to install what is missing; if root cannot "
        "provide it on any machine, add the reason to ACCEPTED_SKIPS in tests/conftest.py."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Refuse a test's skip under MLGATE_TEST_REQUIRE_SYSTEM=1 (setup, call or teardown)."""
    report = yield
    refuse_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Refuse a module-level skip (`pytest.skip(allow_module_level=True)`, importorskip)."""
    report = yield
    refuse_skip(report)
    return report
