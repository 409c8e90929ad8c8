"""The one way mlgate reads YAML: safe types only, no aliases, bounded size and depth.

YAML's aliases (`*name`) let a few lines stand for an exponentially large value (the "billion
laughs" document): ten nested lists of nine aliases each are 3.5 billion strings that later
steps (validation, hashing, dumping) walk in full. mlgate's files never need them, so the
composer refuses the first alias it meets, before anything is expanded, and says where it is.
Every YAML file mlgate reads (mlgate.yaml, schema.yaml) goes through `read_yaml`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from yaml.events import AliasEvent

from mlgate.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from yaml.events import Event
    from yaml.nodes import Node

# A config or schema file is a few kilobytes; a wide schema with many categories a few
# megabytes. Past this, reading is refused before the file is opened.
MAX_YAML_BYTES = 16 * 1024 * 1024
# Nesting deeper than this is no config of ours, and it would exhaust the composer's stack.
MAX_YAML_DEPTH = 64


class _Refused(Exception):
    """The document uses something mlgate does not read; `line` is 1-based."""

    def __init__(self, reason: str, line: int, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.hint = hint


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader whose composer refuses aliases and deep nesting."""

    _depth = 0

    def _next_event(self) -> Event:
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]
        return event

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose one node, refusing an alias before it is resolved."""
        event = self._next_event()
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, AliasEvent):
            raise _Refused(
                f"a YAML alias (*{event.anchor}) is not allowed",
                line,
                "write the value out in full instead of the anchor (&) and alias (*)",
            )
        if self._depth >= MAX_YAML_DEPTH:
            raise _Refused(
                f"nested more than {MAX_YAML_DEPTH} levels deep",
                line,
                "flatten the value",
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(text: str, source: str, error: type[UsageError] = ConfigError) -> object:
    """Parse one YAML document; `source` names it in errors, raised as `error` (exit 2)."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise error(f"{source}, line {exc.line}: {exc.reason}", hint=exc.hint) from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def read_yaml(path: Path, error: type[UsageError] = ConfigError) -> object:
    """Read and parse one YAML file; a file past MAX_YAML_BYTES, unreadable, not YAML, or
    using an alias is an `error` naming the file (and the line)."""
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise error(
                f"{path}: {size:,} bytes, past the limit of {MAX_YAML_BYTES:,} bytes for a "
                "YAML file mlgate reads",
                hint="this is not a file mlgate wrote or expects: check the path",
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    return parse_yaml(text, str(path), error)
