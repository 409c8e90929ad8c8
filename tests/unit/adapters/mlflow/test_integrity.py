"""A download is the registered bundle or it is refused: the digest recorded at registration
against the one downloaded; a version without a record is refused unless explicitly allowed."""

from __future__ import annotations

import logging

import pytest

from mlgate.adapters.mlflow import VersionInfo
from mlgate.adapters.mlflow.integrity import (
    ALLOW_UNRECORDED_ENV,
    DIGEST_TAG,
    allow_unrecorded_from,
    check_recorded,
)
from mlgate.errors import BundleError, UsageError

pytestmark = pytest.mark.unit

REGISTERED = "sha256:" + "af91cb4c7387" + "0" * 52
SWAPPED = "sha256:" + "9f4da3de1dd0" + "1" * 52


def _info(tags: dict[str, str]) -> VersionInfo:
    return VersionInfo("churn", 4, ("champion",), "run1", "", {}, {}, tags)


def test_the_registered_bundle_passes() -> None:
    check_recorded(
        _info({DIGEST_TAG: REGISTERED}), REGISTERED, "sqlite:///r", allow_unrecorded=False
    )


def test_a_swapped_bundle_is_refused_naming_both_digests() -> None:
    with pytest.raises(BundleError) as caught:
        check_recorded(
            _info({DIGEST_TAG: REGISTERED}), SWAPPED, "sqlite:///r", allow_unrecorded=True
        )
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "model 'churn' v4" in message
    assert f"registered {REGISTERED}" in message
    assert f"downloaded {SWAPPED}" in message


def test_an_unrecorded_version_is_refused_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(BundleError) as caught:
        check_recorded(_info({}), SWAPPED, "sqlite:///r", allow_unrecorded=False)
    assert "has no recorded bundle digest" in str(caught.value)
    assert ALLOW_UNRECORDED_ENV in str(caught.value)
    with caplog.at_level(logging.WARNING, logger="mlgate.adapters.mlflow.integrity"):
        check_recorded(_info({}), SWAPPED, "sqlite:///r", allow_unrecorded=True)
    assert "accepting the downloaded bundle" in caplog.text
    assert "'churn' v4" in caplog.text


@pytest.mark.parametrize(
    ("value", "allowed"), [("", False), ("0", False), ("no", False), ("1", True), ("TRUE", True)]
)
def test_the_environment_flag(value: str, allowed: bool) -> None:
    assert allow_unrecorded_from({ALLOW_UNRECORDED_ENV: value}) is allowed
    assert allow_unrecorded_from({}) is False


def test_a_flag_value_that_is_neither_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=rf"{ALLOW_UNRECORDED_ENV}='maybe'"):
        allow_unrecorded_from({ALLOW_UNRECORDED_ENV: "maybe"})
