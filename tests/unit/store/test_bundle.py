"""Bundle integrity: SHA256SUMS catches any change, staging never leaves a partial bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.errors import BundleError
from mlgate.store import bundle

pytestmark = pytest.mark.unit


def _make(root: Path) -> Path:
    with bundle.staging(root / "b") as tmp:
        (tmp / "a.txt").write_text("alpha")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.bin").write_bytes(bytes(range(256)))
    return root / "b"


def test_sealed_bundle_verifies(tmp_path: Path) -> None:
    b = _make(tmp_path)
    bundle.verify(b)
    lines = (b / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["a.txt", "sub/b.bin"]


@settings(max_examples=25, deadline=None)
@given(offset=st.integers(min_value=0, max_value=255), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_is_refused(
    tmp_path_factory: pytest.TempPathFactory, offset: int, flip: int
) -> None:
    b = _make(tmp_path_factory.mktemp("flip"))
    target = b / "sub" / "b.bin"
    data = bytearray(target.read_bytes())
    data[offset] ^= flip
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"sub/b\.bin does not match its checksum"):
        bundle.verify(b)


def test_missing_and_extra_files_are_refused(tmp_path: Path) -> None:
    b = _make(tmp_path)
    (b / "a.txt").unlink()
    (b / "intruder.py").write_text("print('hi')")
    with pytest.raises(BundleError) as info:
        bundle.verify(b)
    assert "missing file a.txt" in str(info.value)
    assert "unexpected file intruder.py" in str(info.value)


def test_missing_sums_file_means_partial(tmp_path: Path) -> None:
    b = _make(tmp_path)
    (b / "SHA256SUMS").unlink()
    with pytest.raises(BundleError, match="partial"):
        bundle.verify(b)


def test_failed_staging_leaves_previous_bundle_and_no_debris(tmp_path: Path) -> None:
    b = _make(tmp_path)
    before = (b / "SHA256SUMS").read_text()

    def crash() -> None:
        with bundle.staging(b) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        crash()
    assert (b / "SHA256SUMS").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    bundle.verify(b)


def test_staging_replaces_an_existing_bundle(tmp_path: Path) -> None:
    b = _make(tmp_path)
    with bundle.staging(b) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in b.iterdir()) == ["SHA256SUMS", "new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_add_file_reseals(tmp_path: Path) -> None:
    b = _make(tmp_path)
    before = (b / "SHA256SUMS").read_text().splitlines()
    bundle.add_file(b, "gate.json", {"passed": True})
    bundle.verify(b)
    after = (b / "SHA256SUMS").read_text().splitlines()
    assert [line for line in after if not line.endswith("  gate.json")] == before
    bundle.add_file(b, "gate.json", {"passed": False})  # replacing keeps one line for it
    bundle.verify(b)
    assert (
        sum(line.endswith("  gate.json") for line in (b / "SHA256SUMS").read_text().splitlines())
        == 1
    )


def test_add_file_refuses_a_tampered_bundle(tmp_path: Path) -> None:
    b = _make(tmp_path)
    (b / "a.txt").write_text("changed")
    with pytest.raises(BundleError):
        bundle.add_file(b, "gate.json", {"passed": True})
    assert not (b / "gate.json").exists()


def test_load_bundle_of_nothing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        bundle.load_bundle(tmp_path / "nope")


@pytest.mark.parametrize("where", ["top", "nested", "dir"])
def test_a_symlink_anywhere_in_a_bundle_is_refused(tmp_path: Path, where: str) -> None:
    b = _make(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    if where == "top":
        (b / "link.txt").symlink_to(outside)
    elif where == "nested":
        (b / "sub" / "link.bin").symlink_to(outside)
    else:
        (b / "linked").symlink_to(tmp_path)
    with pytest.raises(BundleError, match="symbolic link"):
        bundle.verify(b)
    with pytest.raises(BundleError, match="symbolic link"):
        bundle.seal(b)


def test_a_file_replaced_by_a_symlink_is_refused_even_with_matching_sums(tmp_path: Path) -> None:
    b = _make(tmp_path)
    copy = tmp_path / "copy.txt"
    copy.write_bytes((b / "a.txt").read_bytes())
    (b / "a.txt").unlink()
    (b / "a.txt").symlink_to(copy)  # same bytes: SHA256SUMS alone would accept it
    with pytest.raises(BundleError, match=r"symbolic link \(a\.txt\)"):
        bundle.verify(b)


def test_sums_lines_may_not_leave_the_bundle(tmp_path: Path) -> None:
    b = _make(tmp_path)
    (b / "SHA256SUMS").write_text("0" * 64 + "  ../outside\n")
    with pytest.raises(BundleError, match="malformed"):
        bundle.verify(b)


def test_version_names_the_canonical_sums_of_what_is_there(tmp_path: Path) -> None:
    import hashlib

    b = _make(tmp_path)
    digests = bundle.verify(b)
    expected = hashlib.sha256((b / "SHA256SUMS").read_bytes()).hexdigest()[:12]
    assert bundle.version_of(digests) == expected
    # Without verification the version still names the bytes on disk, not a stale SHA256SUMS.
    (b / "a.txt").write_text("changed")
    assert bundle.version_of(bundle.digests_of(b)) != expected


def test_leftovers_of_killed_writers_are_found_and_cleaned(tmp_path: Path) -> None:
    b = _make(tmp_path)
    (tmp_path / ".b.staging-abc").mkdir()
    (tmp_path / ".b.staging-abc" / "model.skops").write_bytes(b"half")
    (tmp_path / ".b.old-xyz").mkdir()
    assert [p.name for p in bundle.leftovers(b)] == [".b.old-xyz", ".b.staging-abc"]
    bundle.clean_leftovers(b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
