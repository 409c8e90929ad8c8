"""What /metadata tells a client of the host that trained the model: a path's last part, with
a URL's credentials and tokens redacted."""

from __future__ import annotations

import pytest

from mlgate.serve.state import _public_path

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("/home/ci/work/churn/data/churn.csv", "churn.csv"),
        ("C:\\\\runner\\\\data\\\\churn.csv", "churn.csv"),
        (
            "https://bucket.example/x/churn.csv?X-Amz-Signature=abc123",
            "churn.csv?X-Amz-Signature=***",
        ),
        ("churn.csv", "churn.csv"),
        (None, None),
    ],
)
def test_a_host_path_is_reduced_and_a_url_token_redacted(given: object, shown: object) -> None:
    assert _public_path(given) == shown
