"""What the library reports through its notice loggers, a command shows on stderr as
`mlgate: ...`, once, whatever stderr is at the moment."""

from __future__ import annotations

import logging

import pytest

from mlgate.cli.app import NOTICE_LOGGERS, show_notices

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", NOTICE_LOGGERS)
def test_a_notice_is_shown_once_on_stderr(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    show_notices()
    show_notices()
    logging.getLogger(name).info("waiting for %s", "mlgate run")
    captured = capsys.readouterr()
    assert captured.err == "mlgate: waiting for mlgate run\n"
    assert captured.out == ""


def test_other_library_loggers_are_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    show_notices()
    logging.getLogger("mlgate.store.signing").info("signature check failed")
    assert capsys.readouterr().err == ""
