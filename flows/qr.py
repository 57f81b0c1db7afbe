"""QR codes of links and URIs (a pairing link, an authenticator's ``otpauth://`` URI), as
a PNG to send as a photo and as text for a terminal."""

from __future__ import annotations

import io

import segno


def png(content: str) -> bytes:
    """``content`` as a QR code PNG, large enough to scan from a screen."""
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def as_text(content: str) -> str:
    """``content`` as a QR code drawn in block characters, for a terminal."""
    buffer = io.StringIO()
    segno.make(content, error="m").terminal(out=buffer, compact=True, border=2)
    return buffer.getvalue()
