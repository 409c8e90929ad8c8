"""The registry records what it gated: the bundle's digest is a tag of its model version, and
every download is compared with it.

At registration the version gets `mlgate.bundle_digest` = `sha256:` + sha256 of the bundle's
SHA256SUMS (`mlgate.store.bundle.sums_digest`; `Bundle.version` is its first 12 digits). A
download whose verified bundle has another digest is refused (BundleError, exit 2) naming both:
the artifact store's copy was replaced after the gate judged it, by a valid bundle or not.

A version registered before mlgate recorded digests has no tag: nothing says which bundle the
gate judged, so it is refused too, with a hint, unless the caller accepts unrecorded versions
explicitly (`open_registry(..., allow_unrecorded=True)`, or `MLGATE_ALLOW_UNRECORDED_BUNDLES=1`
in the environment of a command), and then a warning names the version on every download.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mlgate.errors import BundleError, UsageError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import VersionInfo

DIGEST_TAG = "mlgate.bundle_digest"
ALLOW_UNRECORDED_ENV = "MLGATE_ALLOW_UNRECORDED_BUNDLES"
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"", "0", "false", "no"})

log = logging.getLogger(__name__)


def allow_unrecorded_from(environ: Mapping[str, str] | None = None) -> bool:
    """`MLGATE_ALLOW_UNRECORDED_BUNDLES` of `environ` (default the process's) as a flag."""
    raw = (os.environ if environ is None else environ).get(ALLOW_UNRECORDED_ENV, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(
        f"{ALLOW_UNRECORDED_ENV}={raw!r}: expected 1 or 0",
        hint=f"unset {ALLOW_UNRECORDED_ENV} to refuse versions without a recorded digest",
    )


def check_recorded(
    info: VersionInfo, found: str, registry_uri: str, *, allow_unrecorded: bool
) -> None:
    """Refuse the bundle downloaded for `info`, whose digest is `found` (`Bundle.sums_digest`),
    unless it is the bundle registered for that version."""
    where = f"model {info.name!r} v{info.version} in the registry at {registry_uri}"
    recorded = info.tags.get(DIGEST_TAG)
    if recorded is None:
        if not allow_unrecorded:
            raise BundleError(
                f"{where} has no recorded bundle digest (it was registered before mlgate "
                f"recorded them), so the downloaded bundle ({found}) cannot be checked against "
                "the one its gate judged: refusing it",
                hint="versions registered by this mlgate record it: promote one (`mlgate "
                f"promote VERSION`); to use this version anyway, set {ALLOW_UNRECORDED_ENV}=1 "
                "(each download then warns)",
            )
        log.warning(
            "%s has no recorded bundle digest: accepting the downloaded bundle %s unchecked, "
            "as unrecorded versions are allowed; promote a version registered by this mlgate "
            "to restore the check",
            where,
            found,
        )
        return
    if recorded != found:
        raise BundleError(
            f"{where}: the downloaded bundle is not the registered one (registered "
            f"{recorded}, downloaded {found}): its artifacts were replaced after registration; "
            "refusing it",
            hint="restore the artifacts of that version's run, or promote another version; "
            "find out who can write to the registry's artifact store",
        )
