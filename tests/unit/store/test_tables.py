"""Data files past the table limits (bytes on disk or decompressed, cells) are refused before
they are parsed, in bounded memory, naming the file, its size and the limit; `validate` and
`init` exit 2 on them and leave nothing behind."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlgate.cli import main
from mlgate.errors import DataError, UsageError
from mlgate.store.tables import (
    CELLS_ENV,
    MAX_HEADER_BYTES,
    MAX_TABLE_BYTES,
    MAX_TABLE_CELLS,
    TableLimits,
    csv_header,
    load_table,
)

pytestmark = pytest.mark.unit


def empty_fields(path: Path, rows: int, columns: int = 10) -> Path:
    """A CSV whose every field is empty: one byte a cell on disk."""
    with path.open("w") as fh:
        fh.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        fh.write(("," * (columns - 1) + "\n") * rows)
    return path


def test_a_table_within_the_limits_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    frame = load_table(path, TableLimits(max_bytes=path.stat().st_size, max_cells=4))
    assert frame.shape == (2, 2)
    assert frame["a"].tolist() == [1, 2]


def test_a_file_past_the_byte_limit_is_refused(tmp_path: Path) -> None:
    path = empty_fields(tmp_path / "d.csv", rows=100)
    size = path.stat().st_size
    with pytest.raises(DataError) as info:
        load_table(path, TableLimits(max_bytes=size - 1))
    assert info.value.message == (
        f"data file {path} is too large: {size:,} bytes, past the limit of {size - 1:,} bytes"
    )
    assert "MLGATE_MAX_TABLE_BYTES" in str(info.value.hint)


def test_empty_fields_past_the_cell_limit_are_refused(tmp_path: Path) -> None:
    path = empty_fields(tmp_path / "d.csv", rows=1000)
    load_table(path, TableLimits(max_cells=10_000))
    with pytest.raises(DataError) as info:
        load_table(path, TableLimits(max_cells=9_999))
    assert info.value.message.startswith(f"data file {path} is too large: more than 9,999 cells")
    assert info.value.message.endswith("past the limit of 9,999 cells")
    assert CELLS_ENV in str(info.value.hint)


def test_a_gzip_file_is_measured_decompressed(tmp_path: Path) -> None:
    path = tmp_path / "d.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("a,b\n" + "1,2\n" * 100_000)
    assert path.stat().st_size < 10_000
    with pytest.raises(DataError, match=re.escape("more than 100,000 bytes decompressed")):
        load_table(path, TableLimits(max_bytes=100_000))
    assert load_table(path).shape == (100_000, 2)


def test_parquet_is_measured_from_its_footer(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": range(1000), "b": [None] * 1000}).to_parquet(path)
    with pytest.raises(DataError, match=re.escape("2,000 cells (1,000 rows x 2 columns)")):
        load_table(path, TableLimits(max_cells=1999))
    assert load_table(path, TableLimits(max_cells=2000)).shape == (1000, 2)


def test_a_damaged_parquet_file_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=re.escape(f"cannot parse data file {path}")):
        load_table(path)


def test_a_header_past_its_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"a" * (MAX_HEADER_BYTES + 1))
    with pytest.raises(DataError, match="the header row is longer than"):
        csv_header(path)


def test_a_header_name_may_hold_a_quoted_newline(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('"a\nb",c\n1,2\n')
    assert csv_header(path) == ["a\nb", "c"]


def test_the_environment_sets_the_limits() -> None:
    assert TableLimits.from_env({}) == TableLimits(MAX_TABLE_BYTES, MAX_TABLE_CELLS)
    env = {"MLGATE_MAX_TABLE_BYTES": "4_000_000_000", CELLS_ENV: "12"}
    assert TableLimits.from_env(env) == TableLimits(4_000_000_000, 12)
    with pytest.raises(UsageError, match=f"{CELLS_ENV}='lots': expected a positive"):
        TableLimits.from_env({CELLS_ENV: "lots"})


def test_init_refuses_a_file_past_the_limit_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = empty_fields(tmp_path / "d.csv", rows=100)
    monkeypatch.setenv("MLGATE_MAX_TABLE_BYTES", "1000")
    project = tmp_path / "project"
    assert main(["init", "--data", str(data), "--target", "c0", str(project)]) == 2
    err = capsys.readouterr().err
    size = data.stat().st_size
    assert f"data file {data} is too large: {size:,} bytes, past the limit of 1,000 bytes" in err
    assert not project.exists()


def test_validate_refuses_a_file_past_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlgate.yaml").write_text("name: m\ndata: {path: d.csv, target: c0}\n")
    data = empty_fields(tmp_path / "d.csv", rows=1000)
    monkeypatch.setenv(CELLS_ENV, "5000")
    assert main(["validate", "--config", str(tmp_path / "mlgate.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"data file {data} is too large: more than 5,000 cells" in err
    assert not (tmp_path / "reports").exists()


# Under this address space the CLI runs, but a frame of ~20 million cells does not fit: with no
# limit checked before parsing, the subprocess below dies of a MemoryError.
ADDRESS_SPACE = 1 << 30
LIMITED_CLI = (
    "import resource, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE})); "
    "from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.slow
def test_a_large_csv_of_empty_fields_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    data = empty_fields(tmp_path / "d.csv", rows=200_000, columns=100)
    env = {**os.environ, CELLS_ENV: "1_000_000"}
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED_CLI, "init", "--data", str(data), "--target", "c0", "p"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"data file {data} is too large: more than 1,000,000 cells" in proc.stderr
    assert not (tmp_path / "p").exists()
