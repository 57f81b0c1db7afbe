"""Where the server's secret key comes from: the environment, or a file beside SQLite.

The key is never in the store: a stolen database then yields no code. An embedded SQLite
deployment gets a key generated once into its data folder (mode 0600), so a newcomer needs
no set-up; a PostgreSQL deployment, which usually runs several workers from one
configuration, must set ``BALIE_SECRET_KEY`` and stops at start-up without it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import Settings, SettingsError
from flows.keys import MIN_KEY_LENGTH, KeyedHasher, new_key

KEY_FILE_NAME = "secret.key"


def key_file(settings: Settings) -> Path:
    """The generated key's file: beside the SQLite file."""
    url = make_url(settings.database_url)
    database = url.database or ""
    folder = Path(database).parent if database and database != ":memory:" else Path("data")
    return folder / KEY_FILE_NAME


def _read_or_create(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: two processes starting at once never write two different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(new_key() + "\n")
    return path.read_text(encoding="utf-8").strip()


def load_hasher(settings: Settings) -> KeyedHasher:
    """The keyed hasher for this deployment; a missing or bad key is one line."""
    old = [
        part.strip().encode()
        for part in (
            settings.secret_key_old.get_secret_value() if settings.secret_key_old else ""
        ).split(",")
        if part.strip()
    ]
    if any(len(key) < MIN_KEY_LENGTH for key in old):
        raise SettingsError(
            f"setting BALIE_SECRET_KEY_OLD is invalid: each key needs {MIN_KEY_LENGTH} characters"
        )
    if settings.secret_key is not None:
        return KeyedHasher(settings.secret_key.get_secret_value().encode(), old)
    if not settings.is_sqlite:
        raise SettingsError(
            "setting BALIE_SECRET_KEY is missing: a PostgreSQL store needs a server key "
            "(at least 32 random characters, the same for every worker)"
        )
    path = key_file(settings)
    key = _read_or_create(path)
    if len(key) < MIN_KEY_LENGTH:
        raise SettingsError(f"the key file {path} is damaged: remove it to make a new key")
    return KeyedHasher(key.encode(), old)
