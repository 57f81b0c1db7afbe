"""Addresses and numbers shown (or logged) only as much as recognising them needs."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\+?\d[\d ]{6,}\d")


def mask_email(address: str) -> str:
    """``e•••@example.com``: enough to recognise, not enough to harvest."""
    local, _, domain = address.partition("@")
    if not domain:
        return address
    return f"{local[:1]}•••@{domain}"


def mask_addresses(text: str) -> str:
    """Every e-mail address and long number in ``text`` masked (a provider's error, a log
    line): what a server quotes back never reaches a log in full."""
    return _NUMBER.sub("•••", _EMAIL.sub(lambda m: mask_email(m.group(0)), text))
