"""Secrets out of what is shown: passwords, query tokens and webhook path tokens of a URI
become `***`; everything else of it stays readable."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.core.redact import MASK, redact_text, redact_uri, scrub, uri_secrets

pytestmark = pytest.mark.unit

SLACK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefGHIJKLmnopQRSTuvwx"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://user:secret@127.0.0.1:5999", "http://user:***@127.0.0.1:5999"),
        ("https://u:p%40ss@mlflow.example.com/", "https://u:***@mlflow.example.com/"),
        ("postgresql://mlflow:pw@db:5432/mlflow", "postgresql://mlflow:***@db:5432/mlflow"),
        # A user part without a password is a token more often than a name.
        ("https://ghp_abcdefgh1234@github.com/o/r", "https://***@github.com/o/r"),
        (SLACK, "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/***"),
        (
            "https://discord.com/api/webhooks/1234/tok-en_ABC",
            "https://discord.com/api/webhooks/***/***",
        ),
        ("https://mm.example.com/hooks/xyzzy1234567", "https://mm.example.com/hooks/***"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA/x&X-Amz-Date=1&X-Amz-Signature=f0",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Date=1&X-Amz-Signature=***",
        ),
        (
            "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K123&token=T456",
            "https://chat.googleapis.com/v1/spaces/AAA/messages?key=***&token=***",
        ),
        (
            "https://app.example.com/cb#access_token=abc&state=s",
            "https://app.example.com/cb#access_token=***&state=s",
        ),
        # A raw '/' in the password ends the authority early; the password is still hidden.
        ("http://user:pa/ss@h:5000/x", "http://user:***@h:5000/x"),
    ],
)
def test_secrets_are_masked_and_the_rest_kept(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:5000",
        "sqlite:////tmp/project/mlruns/mlflow.db",
        "https://mlflow.example.com/api?run_id=0123456789abcdef&page=2",
        "models:/churn@champion",
        "http://h:5000/path/with@at",
        "not a uri at all",
    ],
)
def test_uris_without_secrets_are_unchanged(uri: str) -> None:
    assert redact_uri(uri) == uri
    assert uri_secrets(uri) == frozenset()


def test_every_uri_in_a_text_is_redacted_and_punctuation_kept() -> None:
    text = (
        "MLflow registry at http://user:secret@127.0.0.1:5999. is unreachable; webhook "
        f"({SLACK}), then 'https://x:y@h'"
    )
    out = redact_text(text)
    assert out == (
        "MLflow registry at http://user:***@127.0.0.1:5999. is unreachable; webhook "
        "(https://hooks.slack.com/services/T0123ABCD/B0456EFGH/***), then 'https://x:***@h'"
    )


def test_scrub_removes_a_secret_a_library_quotes_its_own_way() -> None:
    uri = "http://user:s%3Acret@127.0.0.1:5999"
    # http.client's words for a password in the URL, and the decoded form too.
    message = "nonnumeric port: 's%3Acret@127.0.0.1:5999'; authenticating with s:cret"
    out = scrub(message, [uri])
    assert "s%3Acret" not in out
    assert "s:cret" not in out
    assert out.count(MASK) == 2
    assert uri_secrets(SLACK) == {"abcdefGHIJKLmnopQRSTuvwx"}


def test_short_path_values_are_masked_but_not_hunted() -> None:
    # "1234" (a Discord channel id) is masked where the URI is shown, not in the whole text.
    uri = "https://discord.com/api/webhooks/1234/tok-en_ABCDEFGH"
    assert uri_secrets(uri) == {"tok-en_ABCDEFGH"}
    assert scrub("port 1234 refused tok-en_ABCDEFGH", [uri]) == "port 1234 refused ***"


# Characters a password may hold unencoded in a URI's user part ('*' aside: it is the mask).
_PASSWORDS = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()+,;=%", min_size=1)


@given(user=st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8), password=_PASSWORDS)
def test_no_password_survives_redaction(user: str, password: str) -> None:
    uri = f"http://{user}:{password}@mlflow.internal:5000/x"
    assert redact_uri(uri).startswith(f"http://{user}:***@mlflow.internal:5000")
    text = f"registry at {uri} failed: {password!r} rejected"
    assert all(password not in piece for piece in scrub(text, [uri]).split(MASK))
