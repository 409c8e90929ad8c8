"""The project's own code as a wheel, for the serving image (`model.pipeline`).

Built from exactly the files the bundle's `mlgate.json` records, after checking that the
project's copy is byte for byte that code: the image then installs the code the model was
trained with, and the server's own check on loading (`mlgate.store.code`) finds it installed and
passes. The wheel is pure Python and reproducible (sorted entries, fixed timestamps), with no
dependencies of its own: the project's declared dependencies are pinned beside the model's
libraries, at the versions that trained it (`CodeRecord.requires`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

from mlgate.core.records.lineage import CodeRecord
from mlgate.errors import BundleError
from mlgate.store.code import CodeSource

_EPOCH = (1980, 1, 1, 0, 0, 0)


def wheel_version(record: CodeRecord) -> str:
    """The package's version when it declares a valid one, else `0+` the code digest."""
    version = record.version or ""
    if re.fullmatch(r"[0-9]+(\.[0-9]+)*([ab]|rc)?[0-9]*(\.post[0-9]+)?(\.dev[0-9]+)?", version):
        return version
    return "0+" + record.digest.removeprefix("sha256:")[:12]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def build_code_wheel(record: CodeRecord, source: CodeSource, dest: Path) -> Path:
    """Write `{package}-{version}-py3-none-any.whl` into `dest` from `source`'s files as
    `record` lists them (`source` already checked against it); returns its path."""
    name = record.package.replace("-", "_")
    version = wheel_version(record)
    info_dir = f"{name}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for rel in sorted(record.files):
        data = (source.import_root / rel).read_bytes()
        if hashlib.sha256(data).hexdigest() != record.files[rel]:
            raise BundleError(
                f"the project's code {rel} changed while the image was being built",
                hint="build again once nothing is editing the project's package",
            )
        files[rel] = data
    files[f"{info_dir}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        "Summary: The project's own model code, as the model bundle records it\n"
    ).encode()
    files[f"{info_dir}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: mlgate\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record_lines = [f"{rel},{_record_hash(data)},{len(data)}" for rel, data in files.items()]
    record_lines.append(f"{info_dir}/RECORD,,")
    files[f"{info_dir}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in files.items():
            _write(zf, rel, data)
    return path
