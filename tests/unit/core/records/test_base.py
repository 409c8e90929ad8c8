"""The versioned record base: current, older and unknown format versions."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from mlgate.core.records.base import Record
from mlgate.errors import FormatError


class Sample(Record):
    FORMAT: ClassVar[str] = "sample.json"
    VERSION: ClassVar[int] = 2
    READS: ClassVar[frozenset[int]] = frozenset({1})

    count: int

    @classmethod
    def upgrade(cls, raw: dict[str, Any], version: int) -> dict[str, Any]:
        # version 1 called the field `n`
        return {"count": raw["n"]}


def test_a_record_is_written_with_its_version_and_reads_back_equal() -> None:
    record = Sample(count=3)
    assert record.format_version == 2
    assert Sample.loads(record.dumps()) == record
    assert record.dumps().endswith("\n")


def test_an_older_version_is_upgraded() -> None:
    assert Sample.parse({"format_version": 1, "n": 4}) == Sample(count=4)


@pytest.mark.parametrize("version", [0, 3, 99])
def test_an_unknown_version_is_refused_naming_it(version: int) -> None:
    raw = {"format_version": version, "count": 1} if version else {"count": 1}
    with pytest.raises(FormatError, match=rf"sample.json format version {version} .*reads 1, 2"):
        Sample.parse(raw, "x/sample.json")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[1]", "expected a JSON object, got list"),
        ("{", "not JSON"),
        ('{"format_version": "2", "count": 1}', "format_version must be an integer"),
        ('{"format_version": 2, "count": "many"}', "count: "),
        ('{"format_version": 2, "count": 1, "extra": 0}', "extra: "),
    ],
)
def test_a_damaged_record_is_a_format_error_naming_the_file(text: str, match: str) -> None:
    with pytest.raises(FormatError, match=match) as info:
        Sample.loads(text, "reports/sample.json")
    assert str(info.value).startswith("reports/sample.json: ")
