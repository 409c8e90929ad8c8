"""Signatures say who produced a bundle: key A's signature fails under key B, and any change
after signing (a file changed, added or removed; the signature itself moved) is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.errors import BundleError, UsageError
from mlgate.store import bundle
from mlgate.store.signing import SIGNATURE_FILE, sign, verify
from mlgate.store.trust import Trust
from tests.keys import keypair

pytestmark = pytest.mark.unit


def signed_bundle(root: Path, private: Path) -> Path:
    with bundle.staging(root / "b", Trust(private_key=private)) as tmp:
        (tmp / "a.txt").write_text("alpha")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.bin").write_bytes(b"\x00\x01")
    return root / "b"


def test_key_a_verifies_and_key_b_does_not(tmp_path: Path) -> None:
    a_private, a_public = keypair(tmp_path, "a")
    _, b_public = keypair(tmp_path, "b")
    b = signed_bundle(tmp_path, a_private)
    assert (b / SIGNATURE_FILE).is_file()
    verify(b, a_public)
    with pytest.raises(BundleError, match="does not verify with public key"):
        verify(b, b_public)


@pytest.mark.parametrize("change", ["edit", "add", "remove", "resums"])
def test_any_change_after_signing_is_refused(tmp_path: Path, change: str) -> None:
    private, public = keypair(tmp_path, "a")
    b = signed_bundle(tmp_path, private)
    if change == "edit":
        (b / "a.txt").write_text("ALPHA")
    elif change == "add":
        (b / "c.txt").write_text("new")
    elif change == "remove":
        (b / "sub" / "b.bin").unlink()
    bundle.seal(b)  # the attacker recomputes SHA256SUMS: integrity holds, origin does not
    if change == "resums":
        (b / "SHA256SUMS").write_text((b / "SHA256SUMS").read_text() + "\n")
    with pytest.raises(BundleError, match="signature does not verify"):
        verify(b, public)


def test_an_unsigned_bundle_is_refused_when_a_key_is_configured(tmp_path: Path) -> None:
    _, public = keypair(tmp_path, "a")
    with bundle.staging(tmp_path / "b") as tmp:
        (tmp / "a.txt").write_text("alpha")
    with pytest.raises(BundleError, match="is not signed"):
        verify(tmp_path / "b", public)


def test_re_signing_after_add_file_keeps_the_bundle_valid(tmp_path: Path) -> None:
    private, public = keypair(tmp_path, "a")
    b = signed_bundle(tmp_path, private)
    trust = Trust(public_key=public, private_key=private)
    bundle.add_file(b, "gate.json", {"passed": True}, trust=trust)
    verify(b, public)
    # A bundle tampered with before the gate is not laundered by the gate's re-signing.
    (b / "a.txt").write_text("evil")
    bundle.seal(b)
    with pytest.raises(BundleError, match="signature does not verify"):
        bundle.add_file(b, "gate.json", {"passed": True}, trust=trust)


def test_a_key_that_is_not_an_ec_key_is_a_usage_error(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = tmp_path / "ed.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    with pytest.raises(UsageError, match="cannot use signing key"):
        sign(tmp_path / "d", key)


def test_a_bundle_opened_without_trust_ignores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The caller resolves trust (where the environment is read) and passes it in; without it,
    # the store checks no signature, whatever MLGATE_PUBLIC_KEY says.
    _, public = keypair(tmp_path, "a")
    monkeypatch.setenv("MLGATE_PUBLIC_KEY", str(public))
    with bundle.staging(tmp_path / "b") as tmp:
        (tmp / "a.txt").write_text("alpha")
    bundle.add_file(tmp_path / "b", "gate.json", {"passed": True})
    bundle.verify(tmp_path / "b")
    with pytest.raises(BundleError, match="is not signed"):
        bundle.add_file(tmp_path / "b", "gate.json", {"passed": True}, trust=Trust(public))
