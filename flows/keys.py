"""The server's secret key: keyed hashes of one-time codes, and signatures of button data.

Codes are stored as HMAC-SHA256 under a key that is not in the store, the way Devise keeps
token digests and Django signs its tokens: a stolen database does not yield a 6-digit code
by brute force (a slow hash of a 10^6 space would not prevent that), and checking a code
costs microseconds. Every digest names the key it was made with, so an old key can still
verify while keys are rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

MIN_KEY_LENGTH = 32
"""Characters (or bytes) a key must have at least: 256 bits from ``secrets.token_urlsafe``."""

_SEPARATOR = "\x1f"


def new_key() -> str:
    """A fresh key as text, for a key file or ``BALIE_SECRET_KEY``."""
    return secrets.token_urlsafe(32)


def key_id(key: bytes) -> str:
    """A short public name of a key, stored beside each digest (never the key itself)."""
    return hashlib.sha256(b"balie-key-id" + key).hexdigest()[:8]


def message(*parts: object) -> str:
    """Join the values a digest binds together, unambiguously."""
    return _SEPARATOR.join(str(part) for part in parts)


class KeyedHasher:
    """HMAC-SHA256 under the current key; older keys still verify what they made."""

    def __init__(self, current: bytes, old: Sequence[bytes] = ()) -> None:
        if len(current) < MIN_KEY_LENGTH:
            raise ValueError(f"a secret key needs at least {MIN_KEY_LENGTH} bytes")
        self._current = current
        self._current_id = key_id(current)
        self._by_id = {key_id(key): key for key in (*old, current)}

    @classmethod
    def ephemeral(cls) -> KeyedHasher:
        """A random key that lives as long as this object (tests, one-off tools)."""
        return cls(secrets.token_bytes(32))

    @property
    def current_key_id(self) -> str:
        return self._current_id

    def _mac(self, key: bytes, label: str, text: str) -> bytes:
        """The one place a keyed hash is computed (tests count the calls per path)."""
        return hmac.new(key, f"{label}{_SEPARATOR}{text}".encode(), hashlib.sha256).digest()

    def digest(self, label: str, text: str) -> str:
        """``key-id$hex``: what the store keeps instead of the code."""
        return f"{self._current_id}${self._mac(self._current, label, text).hex()}"

    def digests(self, label: str, text: str) -> list[str]:
        """``text``'s digest under every key, current first: to find what an old key made."""
        return [
            f"{kid}${self._mac(key, label, text).hex()}"
            for kid, key in sorted(
                self._by_id.items(), key=lambda item: item[0] != self._current_id
            )
        ]

    def matches(self, stored: str | None, label: str, text: str) -> bool:
        """Whether ``text`` made ``stored``; exactly one keyed hash whatever ``stored`` is, so a
        missing, malformed or old-key digest costs the same as a real comparison."""
        kid, _, hex_digest = (stored or "").partition("$")
        key = self._by_id.get(kid)
        computed = self._mac(key or self._current, label, text).hex()
        return key is not None and hmac.compare_digest(computed, hex_digest)

    def dummy(self, label: str) -> None:
        """The work of one comparison, where there is nothing to compare."""
        self._mac(self._current, label, "")

    def derived_keys(self, label: str, length: int = 32) -> list[bytes]:
        """Keys for another purpose (``label``, e.g. encrypting the webhook inbox) derived
        from the server key by HKDF-SHA256, current key first: what an old key sealed can
        still be opened during a rotation. The server key itself is never used twice."""
        return [
            _hkdf(key, f"balie:{label}".encode(), length)
            for _, key in sorted(self._by_id.items(), key=lambda item: item[0] != self._current_id)
        ]

    def sign(self, label: str, text: str, length: int = 12) -> str:
        """A short URL-safe signature (``length`` characters) of ``text``."""
        mac = self._mac(self._current, f"sign:{label}", text)
        return base64.urlsafe_b64encode(mac).decode()[:length]

    def signature_ok(self, label: str, text: str, signature: str) -> bool:
        length = len(signature)
        if length < 8:
            return False
        for key in self._by_id.values():
            mac = self._mac(key, f"sign:{label}", text)
            if hmac.compare_digest(base64.urlsafe_b64encode(mac).decode()[:length], signature):
                return True
        return False


def _hkdf(key: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256 (no salt: the input is already a uniformly random key)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)
