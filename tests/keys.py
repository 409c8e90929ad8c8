"""Signing keys for tests: what `openssl ecparam -genkey` and `openssl ec -pubout` write."""

from __future__ import annotations

from pathlib import Path


def keypair(root: Path, name: str) -> tuple[Path, Path]:
    """A P-256 key pair as `openssl ecparam -genkey` + `openssl ec -pubout` would write it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = root / f"{name}.pem", root / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public
