"""The base of every typed record: a frozen, closed pydantic model with a format version.

A record is written with `format_version` = its class's `VERSION`. Reading checks the version
first: the current one is validated as is; a version listed in `READS` is upgraded by
`upgrade()` first (so files written by an older mlgate still read); any other is refused with a
`FormatError` naming the file, the version found and the versions this mlgate reads. A file
written before records were versioned has no `format_version` and counts as version 0.
"""

from __future__ import annotations

import json
from typing import ClassVar, Self

from pydantic import JsonValue, ValidationError

from mlgate.core.frozen import Frozen
from mlgate.errors import FormatError, describe

LEGACY = 0  # the version of a file that carries no format_version


class Record(Frozen):
    """A versioned file or wire format."""

    FORMAT: ClassVar[str] = "record"  # the file's usual name, for messages
    VERSION: ClassVar[int] = 1
    READS: ClassVar[frozenset[int]] = frozenset()  # older versions `upgrade` turns into this one

    format_version: int = 0

    def model_post_init(self, context: object, /) -> None:
        if self.format_version == LEGACY:
            object.__setattr__(self, "format_version", self.VERSION)

    @classmethod
    def upgrade(cls, raw: dict[str, object], version: int) -> dict[str, object]:
        """Turn a mapping of an older version in `READS` into one of `VERSION`."""
        return raw

    @classmethod
    def parse(cls, raw: object, source: str | None = None) -> Self:
        """Validate an already-decoded value; refuse another version or a damaged record."""
        where = source or cls.FORMAT
        if not isinstance(raw, dict):
            raise FormatError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        version = raw.get("format_version", LEGACY)
        if not isinstance(version, int) or isinstance(version, bool):
            raise FormatError(f"{where}: format_version must be an integer, got {version!r}")
        if version != cls.VERSION:
            if version not in cls.READS:
                raise FormatError(
                    f"{where}: {cls.FORMAT} format version {version} is not one this mlgate "
                    f"reads (it reads {cls._readable()})",
                    hint="re-create the file with this mlgate, or use the mlgate that wrote it",
                )
            raw = {**cls.upgrade(dict(raw), version), "format_version": cls.VERSION}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise FormatError(f"{where}: not a valid {cls.FORMAT}: {describe(exc)}") from None

    @classmethod
    def loads(cls, text: str | bytes, source: str | None = None) -> Self:
        """Parse JSON text."""
        try:
            raw = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormatError(f"{source or cls.FORMAT}: not JSON ({exc})") from None
        return cls.parse(raw, source)

    def dump(self) -> dict[str, JsonValue]:
        """The JSON-ready mapping, `format_version` included."""
        return self.model_dump(mode="json")

    def dumps(self) -> str:
        """The file's text: indented JSON with a final newline."""
        return json.dumps(self.dump(), indent=2) + "\n"

    @classmethod
    def _readable(cls) -> str:
        versions = sorted({cls.VERSION, *cls.READS})
        return ", ".join(str(v) for v in versions)
