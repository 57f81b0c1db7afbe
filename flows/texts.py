"""Every sentence Balie says, from the gettext catalogs in ``flows/locales``, and
locale-aware dates (Babel).

The catalogs use symbolic message ids (``msgid "welcome"``) with the English text as the
translator's comment, so the code names a message and a translator edits the ``.po`` file in
Poedit. They are read directly with Babel, once per process: nothing to compile, and the same
from a clone and from an installed wheel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.pofile import read_po

from flows.domain import Language

DESK_TIMEZONE = ZoneInfo("Europe/Amsterdam")

LOCALES = Path(__file__).with_name("locales")
DOMAIN = "balie"
SOURCE_LANGUAGE = Language.EN
"""The language the messages are written in first; the others fall back to it."""


def catalog_path(language: Language, locales: Path = LOCALES) -> Path:
    return locales / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_messages(path: Path) -> dict[str, str]:
    """The translated messages of one ``.po`` file, by id; fuzzy and empty ones are left out,
    as ``msgfmt`` would, so that they fall back to the source language."""
    with path.open("rb") as file:
        catalog = read_po(file, domain=DOMAIN, ignore_obsolete=True, abort_invalid=True)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.string, str) and message.string and not message.fuzzy
    }


@dataclass(frozen=True)
class Catalog:
    """Every message in every language."""

    messages: Mapping[Language, Mapping[str, str]]

    @classmethod
    def read(cls, locales: Path = LOCALES) -> Catalog:
        return cls(
            {language: read_messages(catalog_path(language, locales)) for language in Language}
        )

    def template(self, language: Language, key: str) -> str:
        """The message ``key`` with its ``{placeholders}``; a ``KeyError`` for an unknown id."""
        found = self.messages[language].get(key)
        return found if found is not None else self.messages[SOURCE_LANGUAGE][key]


@lru_cache(maxsize=1)
def shipped_catalog() -> Catalog:
    """The catalogs shipped in this package, read on first use."""
    return Catalog.read()


def parse_language(code: str | None, default: Language) -> Language:
    """Pick Dutch or English from a Telegram language_code such as ``nl-BE`` or ``en``."""
    if code:
        prefix = code.split("-")[0].lower()
        for language in Language:
            if language.value == prefix:
                return language
    return default


class Texts:
    """The catalog in one language, with dates and durations in that language's style."""

    def __init__(self, language: Language, catalog: Catalog | None = None) -> None:
        self.language = language
        self._catalog = catalog if catalog is not None else shipped_catalog()

    @classmethod
    def for_code(cls, code: str | None, default: Language = Language.NL) -> Texts:
        """Texts in a stored language code (a person's or customer's), else the default."""
        return cls(Language(code) if code in {lang.value for lang in Language} else default)

    def __call__(self, key: str, **values: object) -> str:
        return self.template(key).format(**values)

    def template(self, key: str) -> str:
        """The message before its placeholders are filled in."""
        return self._catalog.template(self.language, key)

    def when(self, moment: datetime) -> str:
        return format_datetime(
            moment.astimezone(DESK_TIMEZONE), "d MMM yyyy HH:mm", locale=self.language.value
        )

    def day(self, day: date) -> str:
        return format_date(day, "d MMM yyyy", locale=self.language.value)

    def age(self, duration: timedelta) -> str:
        return format_timedelta(duration, threshold=1.0, locale=self.language.value)
