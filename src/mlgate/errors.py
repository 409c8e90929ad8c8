"""Every user-facing failure in mlgate is one of these.

MlgateError                      base; never raised directly
├── UsageError          exit 2   bad flags, bad paths, nothing to act on
│   ├── ConfigError     exit 2   mlgate.yaml missing, unparsable or invalid (names the key)
│   ├── DataError       exit 2   data file unreadable, missing columns, wrong target
│   ├── BundleError     exit 2   model bundle missing, partial or tampered (SHA256SUMS)
│   └── FormatError     exit 2   a file mlgate wrote (gate.json, a log record...) that this
│                                version cannot read: another format version, or damaged
├── GateFailed          exit 1   a verdict: validation, quality or smoke gate did not pass
└── InfraError          exit 3   something mlgate needs is not there (engine, registry, server)

`cli.main` is the one place that maps these to exit codes; anything else that escapes is a bug
and is reported with its traceback.
"""

from __future__ import annotations

from typing import ClassVar


class MlgateError(Exception):
    """Base of every error mlgate reports to a user."""

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


def describe(exc: Exception) -> str:
    """A one-line reason for a file that failed to parse: pydantic errors as `key.path: why`."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        )
    return str(exc)


class UsageError(MlgateError):
    """The command was asked to do something it cannot: bad flags, bad paths."""

    exit_code = 2


class ConfigError(UsageError):
    """mlgate.yaml is missing, unparsable, or names an invalid key or value."""


class DataError(UsageError):
    """A data file is missing, unreadable, or does not fit the config (columns, target)."""


class BundleError(UsageError):
    """A model bundle is missing, partial, or does not match its SHA256SUMS."""


class FormatError(UsageError):
    """A record file is of a format version this mlgate does not read, or does not parse."""


class GateFailed(MlgateError):
    """A gate gave its verdict: the candidate does not pass. Carries the report that says why."""

    exit_code = 1


class InfraError(MlgateError):
    """A component mlgate relies on is unavailable: container engine, registry, server."""

    exit_code = 3
