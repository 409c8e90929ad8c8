"""The CI runner's view of the build, read from an environment mapping."""

from __future__ import annotations

import pytest

from mlgate.core.ci import NO_CI, CiEnv

pytestmark = pytest.mark.unit

ACTIONS = {
    "GITHUB_SHA": "0123abc",
    "GITHUB_REF_NAME": "main",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_SERVER_URL": "https://github.com/",
    "GITHUB_REPOSITORY": "acme/churn",
}


def test_github_actions_variables_are_read() -> None:
    ci = CiEnv.from_environ(ACTIONS)
    assert (ci.sha, ci.ref_name, ci.actor) == ("0123abc", "main", "octocat")
    assert ci.repository_url == "https://github.com/acme/churn"


def test_outside_ci_every_field_is_unset_and_empty_values_count_as_unset() -> None:
    assert CiEnv.from_environ({}) == NO_CI
    assert CiEnv.from_environ(dict.fromkeys(ACTIONS, "")) == NO_CI
    assert NO_CI.repository_url is None


def test_a_repository_url_needs_both_the_server_and_the_repository() -> None:
    assert CiEnv.from_environ({"GITHUB_REPOSITORY": "acme/churn"}).repository_url is None
