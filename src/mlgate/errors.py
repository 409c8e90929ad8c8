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
    └── LockBusy        exit 3   a file lock another process holds, asked for without waiting

`cli.main` is the one place that maps these to exit codes; anything else that escapes is a bug
and is reported with its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    # Only for annotations: importing pydantic costs `mlgate --help` a quarter of a second.
    from pydantic import ValidationError

# Deferred imports: pydantic loads only when a validation error is described: importing it costs
# `mlgate --help` a quarter of a second.


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


@dataclass(frozen=True)
class Issue:
    """One thing pydantic found wrong in a value: where (`loc`), what kind, why, and what was
    given (`given`, meaningful only when `has_given`)."""

    loc: tuple[int | str, ...]
    kind: str
    message: str
    given: object = None
    has_given: bool = False

    @property
    def key(self) -> str:
        """The dotted key path (`data.path`, `gates.0.metric`), or `(top level)`."""
        return ".".join(str(part) for part in self.loc) or "(top level)"

    @property
    def reason(self) -> str:
        """Why, in a config's words: `unknown key`, `required key is missing`, or pydantic's
        message with the value given (`... (got 'x')`)."""
        if self.kind == "extra_forbidden":
            return "unknown key"
        if self.kind == "missing":
            return "required key is missing"
        return f"{self.message} (got {self.given!r})" if self.has_given else self.message

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


def validation_issues(exc: ValidationError) -> list[Issue]:
    """Every error of a pydantic ValidationError, in order, as an `Issue` (`str(issue)` is
    `key.path: why (got VALUE)`); the one place that reads pydantic's error dictionaries."""
    return [
        Issue(
            loc=tuple(err["loc"]),
            kind=err["type"],
            message=err["msg"],
            given=err.get("input"),
            has_given="input" in err,
        )
        for err in exc.errors()
    ]


def describe(exc: Exception) -> str:
    """A one-line reason for a file that failed to parse: pydantic errors as `key.path: why`."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{issue.key}: {issue.message}" for issue in validation_issues(exc))
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


class LockBusy(InfraError):
    """Another process holds a file lock that was asked for without waiting (or not in time)."""
