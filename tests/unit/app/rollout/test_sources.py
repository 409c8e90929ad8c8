"""What a name given to `mlgate deploy --target local` refers to: an address, a registry
version (downloaded, so checked against the registry, for each release), an image; anything
else is a UsageError saying what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.app.rollout.sources import Source, resolve
from mlgate.errors import UsageError
from tests.unit.app.rollout.fakes import as_registry

pytestmark = pytest.mark.unit


class Alias:
    def __init__(self, version: int) -> None:
        self.version = version


class Registry:
    """The two calls resolving a models:/ URI makes."""

    uri = "sqlite:///r.db"

    def __init__(self, aliases: dict[str, int]) -> None:
        self.aliases = aliases
        self.downloads: list[tuple[str, int]] = []

    def get_alias(self, name: str, alias: str) -> Alias | None:
        version = self.aliases.get(alias)
        return Alias(version) if version is not None else None

    def download(self, name: str, version: int, dst: Path) -> Path:
        self.downloads.append((name, version))
        bundle = dst / f"v{version}" / "model"
        bundle.mkdir(parents=True)
        (bundle / "mlgate.json").write_text("{}")
        return bundle


def named(text: str, tmp_path: Path, registry: Registry | None = None, **kw: str) -> Source:
    return resolve(
        text,
        registry=as_registry(registry),  # type: ignore[arg-type]
        model="churn",
        workdir=tmp_path,
        engine=kw.get("engine"),
    )


def test_an_address_is_reached_as_it_is(tmp_path: Path) -> None:
    found = named("http://127.0.0.1:9000/", tmp_path)
    assert (found.kind, found.location, found.label) == (
        "url", "http://127.0.0.1:9000", "http://127.0.0.1:9000",
    )  # fmt: skip


def test_a_registry_version_is_downloaded_for_each_release(tmp_path: Path) -> None:
    registry = Registry({"challenger": 4})
    first = named("models:/churn@challenger", tmp_path, registry)
    assert (first.kind, first.label, first.model, first.version) == (
        "bundle", "churn v4", "churn", 4,
    )  # fmt: skip
    # A copy an earlier release left (perhaps changed since) is not reused: the download is
    # what compares the bundle with the digest the registry recorded.
    (Path(first.location) / "planted").write_text("x")
    again = named("models:/churn/4", tmp_path, registry)
    assert again.location == first.location
    assert not (Path(again.location) / "planted").exists()
    assert registry.downloads == [("churn", 4), ("churn", 4)]


def test_a_missing_alias_or_registry_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="has no alias 'champion'"):
        named("models:/churn@champion", tmp_path, Registry({}))
    with pytest.raises(UsageError, match="needs a project with a registry"):
        named("models:/churn@champion", tmp_path)


def test_an_image_reference(tmp_path: Path) -> None:
    found = named("ghcr.io/acme/churn:abc", tmp_path)
    assert (found.kind, found.location) == ("image", "ghcr.io/acme/churn:abc")


@pytest.mark.parametrize(("text", "engine"), [("churn", None), ("acme/churn:1", "process")])
def test_anything_else_is_refused(text: str, engine: str | None, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="neither a bundle directory"):
        resolve(text, registry=None, model="churn", workdir=tmp_path, engine=engine)
