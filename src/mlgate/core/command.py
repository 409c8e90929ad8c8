"""`model.command`: the team's own training command, its placeholders and its argument list.

Pure: the command is checked when the config loads and expanded into an argument list here;
`mlgate.app.command` runs it. The command is split as a POSIX shell would split it (`shlex`) but
no shell ever runs it, so each placeholder stands for exactly one argument's text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

# {train}: the training rows as Parquet; {target}: the target column's name; {out}: the empty
# directory the command writes model.onnx into.
PLACEHOLDERS = ("train", "target", "out")
REQUIRED = ("train", "out")
_FIELD = re.compile(r"\{([^{}]*)\}")


def check_command(command: str) -> str:
    """The command unchanged when it splits and names only known placeholders (and the ones it
    needs); else a ValueError saying which placeholder, or what in the quoting, is wrong."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"does not split into arguments: {exc}") from None
    if not argv:
        raise ValueError("is empty: give the command that trains, e.g. 'python train.py ...'")
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    used = {name for arg in argv for name in _FIELD.findall(arg)}
    unknown = sorted(used - set(PLACEHOLDERS))
    if unknown:
        shown = ", ".join("{" + u + "}" for u in unknown)
        raise ValueError(f"unknown placeholder(s) {shown}; the known ones: {known}")
    missing = [p for p in REQUIRED if p not in used]
    if missing:
        shown = ", ".join("{" + m + "}" for m in missing)
        raise ValueError(
            f"the command lacks {shown}: it must be told where the training rows are "
            "({train}) and where to write model.onnx ({out})"
        )
    return command


def expand(command: str, values: Mapping[str, str]) -> list[str]:
    """The argument list: the command split, then each placeholder replaced by its value."""
    return [_FIELD.sub(lambda m: values[m.group(1)], arg) for arg in shlex.split(command)]
