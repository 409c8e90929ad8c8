"""What a skops file holds, read without building any of it.

A skops file is a zip of `schema.json` (a tree of nodes, each naming its type and how skops
builds it) and numpy's `.npy` / `.npz` files for the arrays. `read_file` turns that tree into
plain values that mirror what `skops.io.loads` would build, without importing or calling
anything the file names:

- JSON values as Python values; dicts, lists and tuples as such;
- an object as `Obj(type, state, args)`: `state` is what skops hands to `__setstate__` (or puts
  in `__dict__`), `args` the constructor arguments of a node skops rebuilds from `__reduce__`;
- an array as `ArrayRef`, a sparse matrix as `SparseRef`: read on demand with numpy's own
  format reader and `allow_pickle=False`, so a validator reads only the arrays it checks;
- an object array as `ObjArray(items, shape)`;
- every other node (types, functions, dtypes, random states...) as `Opaque(type)`.

It also collects the full name of every type the file names, which is what the allow-list is
checked against. skops reuses a node already seen under the same `__id__` instead of reading a
second one; so does this reader, so the values checked are the values skops would build. A
node kind this reader does not know is refused (fail closed).
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from mlgate.errors import BundleError

# Deferred imports: NumPy loads when a model file's arrays are read: the server's parent process
# and the release controller import this module (through the trust checks) without reading one.

SCHEMA = "schema.json"
_META = frozenset({"__class__", "__module__", "__loader__", "__id__", "is_json"})
# Node kinds whose content this reader builds; the others are opaque (their types are still
# collected, from every nested node).
_OBJECTS = frozenset({"ObjectNode"})
_REDUCED = frozenset({"ReduceNode", "TreeNode", "LossNode"})
_OPAQUE = frozenset(
    {
        "TypeNode",
        "FunctionNode",
        "MethodNode",
        "PartialNode",
        "DTypeNode",
        "RandomStateNode",
        "RandomGeneratorNode",
        "SliceNode",
        "BytesNode",
        "BytearrayNode",
        "OperatorFuncNode",
        "DefaultDictNode",
        "ConstructorFromReduceNode",
        "MaskedArrayNode",
    }
)


@dataclass
class Obj:
    """An object of `type` (its full name) as the file describes it."""

    type: str
    state: Any = None
    args: Any = ()


@dataclass(frozen=True)
class Opaque:
    """A node this reader does not build (a type, a function, a dtype...)."""

    type: str


class Archive:
    """The zip's members by name: a stored (uncompressed) member is a view of the file's own
    bytes, read without a copy; SHA256SUMS has vouched for all of them already."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.zip = zipfile.ZipFile(io.BytesIO(data))

    def member(self, name: str) -> bytes | memoryview:
        """One member's bytes; a ValueError when it is missing or its header is damaged."""
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            raise ValueError(f"{name} is missing from the file") from None
        if info.compress_type != zipfile.ZIP_STORED:
            return self.zip.read(name)
        if info.compress_size != info.file_size:
            raise ValueError(f"{name}: damaged zip entry")
        start = info.header_offset
        local = bytes(self.data[start : start + 30])
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"{name}: damaged zip entry")
        begin = start + 30 + int.from_bytes(local[26:28], "little")
        begin += int.from_bytes(local[28:30], "little")
        if begin + info.file_size > len(self.data):
            raise ValueError(f"{name}: cut short")
        return self.data[begin : begin + info.file_size]


@dataclass(frozen=True)
class ArrayRef:
    """A numpy array (or scalar, `type` not `numpy.ndarray`) stored in the zip."""

    type: str
    name: str
    archive: Archive = field(repr=False, compare=False)

    def load(self) -> Any:
        """The array, read with numpy's format rules and without unpickling anything: a
        read-only view of the file's bytes. A ValueError when it does not parse."""
        import numpy as np

        try:
            raw = self.archive.member(self.name)
            shape, fortran, dtype, offset = _header(raw)
            if dtype.hasobject:
                raise ValueError("an object array stored as bytes")
            arr = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=offset)
            return arr.reshape(shape, order="F" if fortran else "C")
        except (ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"array {self.name} is not readable: {exc}") from None

    def header(self) -> tuple[tuple[int, ...], Any]:
        """The array's shape and dtype, read without its data."""
        try:
            shape, _, dtype, _ = _header(self.archive.member(self.name))
        except (ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"array {self.name} is not readable: {exc}") from None
        return shape, dtype


_MAGIC = b"\x93NUMPY"


def _header(raw: bytes | memoryview) -> tuple[tuple[int, ...], bool, Any, int]:
    """(shape, fortran order, dtype, offset of the data) of a `.npy` file's bytes."""
    head = bytes(raw[:12])
    if head[:6] != _MAGIC or (head[6], head[7]) not in ((1, 0), (2, 0)):
        raise ValueError("not a .npy file of format 1.0 or 2.0")
    size = 2 if head[6] == 1 else 4
    length = int.from_bytes(head[8 : 8 + size], "little")
    start = 8 + size
    text = bytes(raw[start : start + length]).decode("latin1")
    if len(text) != length:
        raise ValueError("the array header is cut short")
    shape = _SHAPE.search(text)
    if shape is None:
        raise ValueError("the array header has no shape")
    dims = tuple(int(d) for d in shape.group(1).split(",") if d.strip())
    fortran, dtype = _layout(text[: shape.start()] + "'shape': ()" + text[shape.end() :])
    return dims, fortran, dtype, start + length


_SHAPE = re.compile(r"'shape':\s*\(([0-9,\s]*)\)")


@functools.lru_cache(maxsize=256)
def _layout(text: str) -> tuple[bool, Any]:
    """(fortran order, dtype) of a header without its shape: the same few headers recur for
    every tree of a forest, and numpy's own parse of one costs a compile."""
    import ast

    from numpy.lib import format as npy

    try:
        header = ast.literal_eval(text)
    except (SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"the array header does not parse: {type(exc).__name__}") from None
    if not isinstance(header, dict) or not isinstance(header.get("fortran_order"), bool):
        raise ValueError("the array header is not numpy's")
    try:
        return header["fortran_order"], npy.descr_to_dtype(header["descr"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the array header has no dtype: {exc}") from None


@dataclass(frozen=True)
class SparseRef:
    """A scipy sparse matrix stored in the zip (`.npz`): its arrays by name."""

    type: str
    name: str
    archive: Archive = field(repr=False, compare=False)

    def load(self) -> dict[str, Any]:
        """The npz's arrays, read with `allow_pickle=False`."""
        import numpy as np

        try:
            raw = io.BytesIO(self.archive.member(self.name))
            with np.load(raw, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"sparse matrix {self.name} is not readable: {exc}") from None


@dataclass
class ObjArray:
    """A numpy array of objects: its items in order, and its shape."""

    items: list[Any]
    shape: Any


class _Pending:
    """A tuple still being read: a reference to it from inside is malformed."""


@dataclass
class View:
    """The root value of a file and every type name it holds."""

    root: Any
    types: set[str]


class _Reader:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.memo: dict[int, Any] = {}
        self.types: set[str] = set()

    def node(self, state: Any) -> Any:
        if not isinstance(state, dict) or "__loader__" not in state:
            raise ValueError("a node without a loader")
        saved_id = state.get("__id__")
        if saved_id in self.memo:  # skops reuses the node seen first under this id
            return self.memo[saved_id]
        loader = state["__loader__"]
        name = f"{state['__module__']}.{state['__class__']}"
        if loader == "CachedNode":
            raise ValueError(f"a reference to an unknown object id {saved_id!r}")
        self.types.add(name)
        if loader == "JsonNode":
            return self._keep(saved_id, json.loads(state["content"]))
        if loader == "NdArrayNode":
            return self._array(saved_id, name, state)
        if loader == "SparseMatrixNode":
            return self._keep(saved_id, SparseRef(name, str(state["file"]), self.archive))
        if loader in ("DictNode", "ListNode", "SetNode", "TupleNode"):
            return self._container(saved_id, loader, state)
        if loader in _OBJECTS or loader in _REDUCED:
            obj = self._keep(saved_id, Obj(name))
            if state.get("content") is not None:
                obj.state = self.node(state["content"])
            if loader in _REDUCED:
                obj.args = self.node(state["__reduce__"]["args"])
            return obj
        if loader in _OPAQUE:
            if loader == "MethodNode":
                self.types.add(f"{name}.{state['content']['func']}")
            value = self._keep(saved_id, Opaque(name))
            self._nested(state)
            return value
        raise ValueError(f"unknown node kind {loader!r} for {name}")

    def _keep(self, saved_id: Any, value: Any) -> Any:
        if saved_id:  # skops memoizes every node with a (truthy) id
            self.memo[saved_id] = value
        return value

    def _array(self, saved_id: Any, name: str, state: dict[str, Any]) -> Any:
        if state["type"] == "numpy":
            return self._keep(saved_id, ArrayRef(name, str(state["file"]), self.archive))
        if state["type"] != "json":
            raise ValueError(f"an array of unknown storage {state['type']!r}")
        arr = self._keep(saved_id, ObjArray([], None))
        arr.items.extend(self.node(item) for item in state["content"])
        arr.shape = self.node(state["shape"])
        return arr

    def _container(self, saved_id: Any, loader: str, state: dict[str, Any]) -> Any:
        content = state["content"]
        if loader == "DictNode":
            out: dict[str, Any] = self._keep(saved_id, {})
            if "key_types" in state:
                self.node(state["key_types"])
            for key, value in content.items():
                out[key] = self.node(value)
            return out
        if loader == "TupleNode":
            self._keep(saved_id, _Pending())
            return self._keep(saved_id, tuple(self.node(v) for v in content))
        items: list[Any] = self._keep(saved_id, [])
        items.extend(self.node(v) for v in content)
        return items

    def _nested(self, state: dict[str, Any]) -> None:
        """Collect the types of every node nested in an opaque one."""
        stack = [v for k, v in state.items() if k not in _META]
        while stack:
            value = stack.pop()
            if isinstance(value, dict) and "__loader__" in value:
                self.node(value)
            elif isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)


def read_file(data: bytes, source: str) -> View:
    """The values and type names of a skops file; a BundleError naming `source` when it is
    not one."""
    try:
        archive = Archive(data)
        schema = json.loads(archive.zip.read(SCHEMA))
        reader = _Reader(archive)
        root = reader.node(schema)
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError, RecursionError) as exc:
        what = type(exc).__name__ if isinstance(exc, KeyError | RecursionError) else str(exc)
        raise BundleError(f"{source} is not a readable skops file: {what}") from None
    return View(root, reader.types)
