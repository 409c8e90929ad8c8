"""The project on disk: find mlgate.yaml, read it, validate it into a `Project`."""

from __future__ import annotations

from pathlib import Path

from mlgate.core.config import CONFIG_FILE, Project, parse_config
from mlgate.errors import ConfigError
from mlgate.store.yamlfile import read_yaml


def config_file(path: Path | str) -> Path:
    """`path` itself when it names a file, else the mlgate.yaml inside it."""
    p = Path(path)
    return p / CONFIG_FILE if p.is_dir() else p


def load_project(path: Path | str = CONFIG_FILE) -> Project:
    """Read and validate mlgate.yaml; `path` may be the file or its directory."""
    p = Path(path)
    if p.is_dir():
        p = p / CONFIG_FILE
    if not p.is_file():
        raise ConfigError(
            f"config file not found: {p}",
            hint="run `mlgate init` to create one, or pass --config PATH",
        )
    raw = read_yaml(p, ConfigError)
    return Project(root=p.parent.resolve(), config=parse_config(raw, str(p)))


def find_project(path: Path | str | None) -> Project | None:
    """The project whose mlgate.yaml `path` names or contains, or None when there is none."""
    if path is None:
        return None
    config = config_file(path)
    return load_project(config) if config.is_file() else None
