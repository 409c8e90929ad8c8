"""Bundle signatures: OpenSSF model signing with an elliptic-curve key pair, fully offline.

`SHA256SUMS` says nothing changed by accident; a signature says who produced the bundle. The
signature is `model.sig` inside the bundle: a Sigstore bundle (DSSE envelope over an in-toto
statement that lists every file's SHA-256), the format of the `model_signing` library and CLI,
so `model_signing verify key BUNDLE --signature BUNDLE/model.sig --public_key KEY.pub` checks it
too. It covers every file of the bundle but itself, SHA256SUMS included; a file added, removed
or changed after signing fails verification. Needs `mlgate[sign]`, imported only when a key is
configured.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mlgate.errors import BundleError, UsageError

# Deferred imports: model-signing is the sign extra: it loads only to sign or verify a bundle that
# has a signature.

SIGNATURE_FILE = "model.sig"

log = logging.getLogger(__name__)


def _modules() -> tuple[object, object, object]:
    try:
        from model_signing import hashing, signing, verifying
    except ImportError:
        raise UsageError(
            "a signing or verification key is configured, but the signing library is missing",
            hint="pip install 'mlgate[sign]' (model-signing and pyopenssl)",
        ) from None
    return hashing, signing, verifying


def _hashing_config(hashing: object) -> object:
    # Everything but the signature itself; git's own files too (a bundle has none).
    return hashing.Config().set_ignored_paths(  # type: ignore[attr-defined]
        paths=[SIGNATURE_FILE], ignore_git_paths=False
    )


def sign(bundle_dir: Path, private_key: Path, password: str | None = None) -> Path:
    """Write `bundle_dir/model.sig` over every other file; returns its path."""
    hashing, signing, _ = _modules()
    target = bundle_dir / SIGNATURE_FILE
    target.unlink(missing_ok=True)
    try:
        config = signing.Config().use_elliptic_key_signer(  # type: ignore[attr-defined]
            private_key=private_key, password=password
        )
    # model_signing reports a key of another kind (RSA, Ed25519) as an AttributeError.
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"cannot use signing key {private_key}: {type(exc).__name__}: {exc}",
            hint="an unencrypted (or MLGATE_SIGNING_KEY_PASSWORD) PEM EC key, P-256/384/521",
        ) from None
    config.set_hashing_config(_hashing_config(hashing)).sign(bundle_dir, target)
    return target


def verify(bundle_dir: Path, public_key: Path) -> None:
    """Refuse a bundle that is unsigned, or whose signature does not verify with `public_key`."""
    sig = bundle_dir / SIGNATURE_FILE
    if not sig.is_file() or sig.is_symlink():
        raise BundleError(
            f"model bundle {bundle_dir} is not signed (no {SIGNATURE_FILE}), and a public key "
            f"is configured ({public_key}): refusing to load it",
            hint="sign bundles by configuring trust.private_key (or MLGATE_SIGNING_KEY) where "
            "they are trained, then retrain",
        )
    _, _, verifying = _modules()
    try:
        config = verifying.Config().use_elliptic_key_verifier(  # type: ignore[attr-defined]
            public_key=public_key
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"cannot use public key {public_key}: {type(exc).__name__}: {exc}",
            hint="a PEM elliptic-curve public key (P-256, P-384 or P-521)",
        ) from None
    try:
        config.verify(bundle_dir, sig)
    except Exception as exc:  # model_signing raises ValueError and library-specific types
        log.info("signature check of %s failed: %s: %s", bundle_dir, type(exc).__name__, exc)
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise BundleError(
            f"model bundle {bundle_dir}: its signature does not verify with public key "
            f"{public_key} ({reason}): refusing to load it",
            hint="the bundle was changed after signing, or signed with another key",
        ) from None
