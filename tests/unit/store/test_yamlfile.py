"""The one YAML reader: safe types, no aliases, bounded depth and size; errors name the file,
the line and the fix, as the error class the caller asks for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlgate.errors import ConfigError, DataError
from mlgate.store.files import read_schema
from mlgate.store.yamlfile import MAX_YAML_BYTES, MAX_YAML_DEPTH, parse_yaml, read_yaml

pytestmark = pytest.mark.unit


def test_plain_yaml_reads_as_before() -> None:
    text = "name: m\nmodel:\n  params: {C: 0.5, penalty: l2}\nlist: [1, 2.5, true, null]\n"
    assert parse_yaml(text, "f.yaml") == {
        "name": "m",
        "model": {"params": {"C": 0.5, "penalty": "l2"}},
        "list": [1, 2.5, True, None],
    }


def test_an_anchor_without_an_alias_is_harmless() -> None:
    assert parse_yaml("a: &x 1\nb: 2\n", "f.yaml") == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &x [1, 2]\nb: *x\n", 2),
        ("base: &x {k: 1}\nother:\n  <<: *x\n  y: 2\n", 3),
        ("a: &x 1\nb:\n  - 3\n  - *x\n", 4),
    ],
    ids=["alias", "merge-key", "in-a-list"],
)
def test_an_alias_is_refused_naming_the_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "conf/mlgate.yaml")
    assert info.value.message == f"conf/mlgate.yaml, line {line}: a YAML alias (*x) is not allowed"
    assert "write the value out in full" in str(info.value.hint)


def test_the_caller_chooses_the_error_class() -> None:
    with pytest.raises(DataError, match=re.escape("schema.yaml, line 2")):
        parse_yaml("a: &x 1\nb: *x\n", "schema.yaml", DataError)


def test_nesting_is_bounded() -> None:
    ok = "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1)
    assert parse_yaml(ok, "f.yaml") is not None
    with pytest.raises(ConfigError, match=f"nested more than {MAX_YAML_DEPTH} levels"):
        parse_yaml("[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1), "f.yaml")


def test_unsafe_tags_and_bad_syntax_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=re.escape("f.yaml: not valid YAML")):
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", "f.yaml")
    with pytest.raises(ConfigError, match=re.escape("f.yaml: not valid YAML")):
        parse_yaml("a: [1, 2\n", "f.yaml")


def test_a_file_past_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "mlgate.yaml"
    with path.open("wb") as fh:
        fh.truncate(MAX_YAML_BYTES + 1)
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert f"{path}: {MAX_YAML_BYTES + 1:,} bytes, past the limit" in info.value.message


def test_an_unreadable_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "mlgate.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: cannot read")):
        read_yaml(path)


def test_the_schema_reader_refuses_an_alias(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text("columns:\n  - &c {name: x, dtype: int64}\n  - *c\n")
    with pytest.raises(DataError, match=re.escape(f"{path}, line 3: a YAML alias")):
        read_schema(path)
