"""The keys that sign this service's JWTs, and the JWKS that lets any other service verify them.

Tokens are signed with an asymmetric key (``JWT_ALGORITHM``: ES256 by default, or RS256), so a
service that trusts them needs only the public half, published at ``/.well-known/jwks.json``.
Each key is named by its ``kid``, the RFC 7638 thumbprint of its public key: the same key gets
the same ``kid`` in every process and on every restart, without a list to keep. Public keys of
earlier signing keys (``JWT_PREVIOUS_PUBLIC_KEYS``) stay in the JWKS, so tokens signed before a
rotation still verify until they expire. HS256 (a shared secret) is possible when chosen, and
then nothing is published.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ASYMMETRIC = {"ES256", "RS256"}
ALGORITHMS = ASYMMETRIC | {"HS256"}
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.S)


class SigningKeyError(ValueError):
    """JWT_ALGORITHM, JWT_SIGNING_KEY or JWT_PREVIOUS_PUBLIC_KEYS cannot be used."""


def read_pem_setting(value: str) -> str:
    """A key setting's text: PEM as it is, or ``file:PATH`` for a file holding it."""
    value = value.strip()
    if value.startswith("file:"):
        try:
            return Path(value[5:]).read_text()
        except OSError as exc:
            raise SigningKeyError(f"cannot read the key file {value[5:]!r}: {exc}") from exc
    return value.replace("\\n", "\n")  # one-line environment values


def generate_private_key(algorithm: str) -> str:
    """A new private key for ``algorithm``, as PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )  # fmt: skip
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip


def local_private_key(algorithm: str, var_dir: Path) -> str:
    """DEBUG only: a key generated once into ``var/`` and kept, so that the web process and the
    workers, and the next ``make run``, sign and verify with the same one."""
    path = var_dir / f"jwt_signing_key_{algorithm.lower()}.pem"
    try:
        return path.read_text()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_private_key(algorithm)
    try:  # O_EXCL: when several processes start at once, the first writer wins
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    with os.fdopen(fd, "w") as fh:
        fh.write(pem)
    return pem


def _public_key(pem: str):
    try:
        if "PRIVATE KEY" in pem:
            return serialization.load_pem_private_key(pem.encode(), password=None).public_key()
        return serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"not a PEM key: {exc}") from exc


def _check_type(public_key, algorithm: str) -> None:
    if algorithm == "ES256":
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise SigningKeyError("ES256 needs an EC key on the P-256 curve")
        if public_key.curve.name != "secp256r1":
            raise SigningKeyError("ES256 needs a key on the P-256 curve")
    elif not isinstance(public_key, rsa.RSAPublicKey):
        raise SigningKeyError("RS256 needs an RSA key")


def public_jwk(public_key, algorithm: str) -> dict:
    """The public key as a JWK, with its ``kid`` (RFC 7638 thumbprint), ``alg`` and ``use``."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        required = ("crv", "kty", "x", "y")
    else:
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        required = ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**{k: jwk[k] for k in required}, "kid": kid, "alg": algorithm, "use": "sig"}


@dataclass(frozen=True)
class SigningKeys:
    """The current signing key and the public keys tokens may be verified with."""

    algorithm: str
    signing_key: str  # PEM of the private key, or the HS256 secret
    previous_public_keys: tuple[str, ...] = ()

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise SigningKeyError(
                f"JWT_ALGORITHM must be one of {sorted(ALGORITHMS)}, not {self.algorithm!r}"
            )
        for jwk in self.jwks["keys"]:  # parses and checks every key now, at start-up
            assert jwk["kid"]

    @cached_property
    def public_pem(self) -> str:
        """PEM of the current public key ("" for HS256)."""
        if self.algorithm not in ASYMMETRIC:
            return ""
        return (
            _public_key(self.signing_key)
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @cached_property
    def jwks(self) -> dict:
        """``{"keys": [...]}``: the current public key first, then the previous ones."""
        if self.algorithm not in ASYMMETRIC:
            return {"keys": []}
        keys = []
        for pem in (self.signing_key, *self.previous_public_keys):
            public_key = _public_key(pem)
            _check_type(public_key, self.algorithm)
            keys.append(public_jwk(public_key, self.algorithm))
        return {"keys": keys}

    @cached_property
    def kid(self) -> str | None:
        """The ``kid`` of the current key, which every token's header names."""
        keys = self.jwks["keys"]
        return keys[0]["kid"] if keys else None

    @cached_property
    def verifying_keys(self) -> dict[str, object]:
        """Public keys by ``kid``, as PyJWT takes them."""
        return {jwk["kid"]: _public_key(pem) for jwk, pem in zip(
            self.jwks["keys"], (self.signing_key, *self.previous_public_keys), strict=True
        )}  # fmt: skip


def split_public_keys(value: str) -> tuple[str, ...]:
    """``JWT_PREVIOUS_PUBLIC_KEYS``: PEM blocks one after another, or ``file:PATH`` entries
    separated by commas (each file may hold several blocks)."""
    value = value.strip()
    if not value:
        return ()
    texts = [read_pem_setting(part) for part in value.split(",")] if value.startswith(
        "file:"
    ) else [value.replace("\\n", "\n")]  # fmt: skip
    blocks = [block for text in texts for block in _PEM_BLOCK.findall(text)]
    if not blocks:
        raise SigningKeyError("JWT_PREVIOUS_PUBLIC_KEYS holds no PEM key")
    return tuple(blocks)
