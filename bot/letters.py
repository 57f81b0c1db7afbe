"""Letters with an activation code (seed 002), exported as one PDF batch for print-and-mail.

``balie letters export`` takes every queued letter, makes a fresh activation code for each
(the code exists in plain text only in the PDF), renders one A4 page per letter with the
address in the window position of a Dutch window envelope (window on the left), and writes
``letters-<timestamp>.pdf`` plus a CSV manifest without the codes for the print-and-mail
service. Both files are mode 0600 and appear under their names only once they are complete.

Font: the PDF uses the PDF core fonts (Helvetica, Courier), encoded as Windows-1252, so it
needs no font file on any machine. That covers Dutch, German, French, Scandinavian names and
the like (Zoë, Ömer Çelik, Åse); any other character is written as its closest Windows-1252
equivalent (Ş -> S, ğ -> g, Ł -> L) or "?", which is what postal addresses do anyway.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from babel.dates import format_date, format_time
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from flows import accounts
from flows.activation_codes import formatted, issue
from flows.domain import AuditAction
from flows.keys import KeyedHasher
from flows.model import Customer, Letter
from flows.texts import DESK_TIMEZONE
from storage.uow import Store, Transaction

PDF_ENCODING = "windows-1252"
"""The core fonts' encoding in the PDF (WinAnsiEncoding)."""
MANIFEST_COLUMNS = (
    "letter_id",
    "organization",
    "customer_number",
    "name",
    "street",
    "house_number",
    "postcode",
    "city",
    "page",
)

# Characters without a Windows-1252 form whose Unicode decomposition does not help either.
_LOOKALIKES = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ħ": "H",
        "ħ": "h",
        "ı": "i",
        "Ŀ": "L",
        "ŀ": "l",
        "Ŋ": "N",
        "ŋ": "n",
        "Ŧ": "T",
        "ŧ": "t",
        "ẞ": "SS",
        "Ə": "E",
        "ə": "e",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "−": "-",
        "\u2009": " ",
        "\u202f": " ",
    }
)


def printable(text: str) -> str:
    """The text as the core fonts can show it: Windows-1252, closest equivalents otherwise."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text).translate(_LOOKALIKES):
        if ch == "\n":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        elif _encodable(ch):
            out.append(ch)
        else:
            base = "".join(
                part
                for part in unicodedata.normalize("NFKD", ch)
                if not unicodedata.combining(part) and _encodable(part)
            )
            out.append(base or "?")
    return "".join(out)


def _encodable(ch: str) -> bool:
    try:
        ch.encode(PDF_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def postcode_line(postcode: str, city: str) -> str:
    """PostNL style: ``1234 AB  UTRECHT`` (two spaces, city in capitals)."""
    compact = postcode.strip().upper()
    match = re.fullmatch(r"(\d{4})\s*([A-Z]{2})", compact)
    if match:
        compact = f"{match.group(1)} {match.group(2)}"
    return f"{compact}  {city.strip().upper()}"


@dataclass(frozen=True)
class LetterContent:
    """Everything one letter shows."""

    letter_id: int
    organization_name: str
    desk_contact: str | None
    customer_number: str
    name: str
    street: str
    house_number: str
    postcode: str
    city: str
    code: str
    expires_at: datetime
    letter_date: date


def _day(day: date, locale: str) -> str:
    return format_date(day, "d MMMM yyyy", locale=locale)


class _LetterPdf(FPDF):
    LEFT = 20.0
    WIDTH = 170.0

    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_fonts_encoding = PDF_ENCODING
        self.set_auto_page_break(False)
        self.set_margins(self.LEFT, 15, 20)
        self.set_creator("Balie")
        self.set_title("Activatiecodes")

    def para(self, text: str, size: float = 10, style: str = "", height: float = 5) -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(
            self.WIDTH, height, printable(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def letter(self, content: LetterContent) -> None:
        self.add_page()
        self._sender(content)
        self._recipient(content)
        self._reference(content)
        expires_local = content.expires_at.astimezone(DESK_TIMEZONE)
        at_time = format_time(expires_local, "HH:mm", locale="nl")
        self._dutch(content, until=f"{_day(expires_local.date(), 'nl')}, {at_time} uur")
        self._english(content, until=f"{_day(expires_local.date(), 'en')}, {at_time}")

    def _sender(self, content: LetterContent) -> None:
        """Sender, top right."""
        self.set_xy(120, 18)
        self.set_font("Helvetica", "B", 11)
        self.multi_cell(
            70, 5, printable(content.organization_name)[:120], new_x=XPos.LEFT, new_y=YPos.NEXT
        )
        if content.desk_contact:
            self.set_font("Helvetica", "", 9)
            self.multi_cell(
                70, 4, printable(content.desk_contact)[:300], new_x=XPos.LEFT, new_y=YPos.NEXT
            )

    def _recipient(self, content: LetterContent) -> None:
        """Return line and recipient, in the window of a window-left envelope."""
        self.set_xy(self.LEFT + 2, 45)
        self.set_font("Helvetica", "", 7)
        self.cell(
            85, 4, printable(content.organization_name)[:80], new_x=XPos.LEFT, new_y=YPos.NEXT
        )
        self.set_xy(self.LEFT + 2, 52)
        self.set_font("Helvetica", "", 10)
        for text in (
            content.name,
            f"{content.street} {content.house_number}",
            postcode_line(content.postcode, content.city),
        ):
            self.multi_cell(85, 5, printable(text)[:120], new_x=XPos.LEFT, new_y=YPos.NEXT)

    def _reference(self, content: LetterContent) -> None:
        """Date and reference."""
        self.set_xy(self.LEFT, 95)
        self.para(f"Datum: {_day(content.letter_date, 'nl')}", size=9, height=4.5)
        self.para(f"Klantnummer: {content.customer_number}", size=9, height=4.5)
        self.para(f"Kenmerk: brief {content.letter_id}", size=9, height=4.5)

    def _dutch(self, content: LetterContent, until: str) -> None:
        """The letter itself, with the code in a box and how to use it."""
        self.set_y(118)
        self.para("Uw activatiecode", size=13, style="B", height=7)
        self.ln(3)
        self.para(f"Beste {content.name},")
        self.ln(2)
        self.para(
            f"U heeft een activatiecode aangevraagd voor uw account bij {content.organization_name}"
            ". Met deze code activeert u uw account in de chat met de servicedesk. Uw code is:"
        )
        self.ln(4)
        self.set_font("Courier", "B", 22)
        self.set_x(self.LEFT + 35)
        self.cell(100, 14, formatted(content.code), border=1, align="C")
        self.ln(18)
        self.para(
            f"De code is geldig tot {until} en werkt één keer. Een nieuwe code vervangt deze code."
        )
        self.ln(3)
        self._steps(content)

    def _steps(self, content: LetterContent) -> None:
        """How to use the code, what to do when it was not asked for, and the greeting."""
        self.para("Zo gebruikt u de code:", style="B")
        self.para(f"1. Open de chat met de servicedesk van {content.organization_name}.")
        self.para("2. Druk op de knop Activatiecode en dan Ik heb een code, of typ /activate.")
        self.para(
            f"3. Typ uw klantnummer ({content.customer_number}) en daarna deze code, "
            "met of zonder streepjes."
        )
        self.ln(3)
        contact = f" ({content.desk_contact})" if content.desk_contact else ""
        self.para(
            "Heeft u deze code niet aangevraagd? Neem dan contact op met de servicedesk"
            f"{contact}. Geef de code aan niemand anders, ook niet aan een medewerker."
        )
        self.ln(3)
        self.para("Met vriendelijke groet,")
        self.para(content.organization_name)

    def _english(self, content: LetterContent, until: str) -> None:
        """A short English summary under the Dutch letter."""
        self.ln(6)
        self.para(
            f"English: this is your activation code for your account at "
            f"{content.organization_name}. Open the chat with the desk, press Activation code, "
            f"then I have a code (or type /activate), and type your customer number and this "
            f"code. It is valid until {until} and works once.",
            size=8.5,
            height=4,
        )


def render_batch(letters: Sequence[LetterContent]) -> bytes:
    """One PDF with one A4 page per letter, in the given order."""
    pdf = _LetterPdf()
    for content in letters:
        pdf.letter(content)
    return bytes(pdf.output())


# --- export -------------------------------------------------------------------------------


class LetterError(Exception):
    """The export cannot be done (nothing is written, nothing is marked)."""


@dataclass(frozen=True)
class SkippedLetter:
    letter_id: int
    customer_number: str
    reason: str


@dataclass(frozen=True)
class ExportResult:
    pdf: Path | None = None
    manifest: Path | None = None
    batch: str | None = None
    letter_ids: tuple[int, ...] = ()
    """The letters in the PDF, in page order."""
    merged_ids: tuple[int, ...] = ()
    """Older queued letters to a customer who has a newer one in this batch: marked exported
    with it, not printed (a new code replaces the old one, so only the newest letter counts)."""
    skipped: tuple[SkippedLetter, ...] = field(default=())
    """Letters left queued because they cannot be mailed yet (no full postal address)."""

    @property
    def paths(self) -> list[Path]:
        return [path for path in (self.pdf, self.manifest) if path is not None]

    @property
    def count(self) -> int:
        return len(self.letter_ids)

    def remove_files(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


def _missing_address(customer: Customer) -> str | None:
    missing = [
        label
        for label, value in (
            ("street", customer.street),
            ("house number", customer.house_number),
            ("postcode", customer.postcode),
            ("city", customer.city),
        )
        if not (value and value.strip())
    ]
    return f"no {', '.join(missing)} on file" if missing else None


LETTER_DESTINATION = "letter"
"""A letter's code is bound to the letter route: it reaches the address on file by post."""


async def export_letters(
    tx: Transaction,
    hasher: KeyedHasher,
    out_dir: Path,
    now: datetime,
    organization_id: int | None = None,
) -> ExportResult:
    """Export every queued letter (of one organization, when given) to ``out_dir``.

    Issues a fresh code per letter, writes the PDF and the manifest (complete files only),
    marks the letters exported and audits each. With nothing to export, writes nothing.
    The caller commits; if that fails, the files hold codes that were never stored, so
    remove them (``export_batch`` does).
    """
    selection = _select(await tx.letters.queued(organization_id))
    if not selection.chosen:
        return ExportResult(skipped=tuple(selection.skipped))
    contents = [await _content(tx, hasher, letter, now) for letter in selection.chosen]
    pdf_bytes = render_batch(contents)
    manifest_bytes = _manifest(contents)
    pdf_path, manifest_path = _write_batch(out_dir, now, pdf_bytes, manifest_bytes)
    batch = pdf_path.stem
    try:
        await _mark_exported(tx, selection, batch, now)
    except BaseException:
        pdf_path.unlink(missing_ok=True)
        manifest_path.unlink(missing_ok=True)
        raise
    return ExportResult(
        pdf=pdf_path,
        manifest=manifest_path,
        batch=batch,
        letter_ids=tuple(letter.id for letter in selection.chosen),
        merged_ids=tuple(letter.id for letter in selection.merged),
        skipped=tuple(selection.skipped),
    )


@dataclass(frozen=True)
class _Selection:
    """The queued letters sorted for one batch."""

    chosen: list[Letter]
    """The newest letter per customer with a full address, in id order: these are printed."""
    merged: list[Letter]
    """Older letters to a customer in ``chosen``: marked exported with it, not printed."""
    skipped: list[SkippedLetter]
    newest: dict[int, Letter]
    """The chosen letter per customer id."""


def _select(queued: Sequence[Letter]) -> _Selection:
    skipped: list[SkippedLetter] = []
    newest: dict[int, Letter] = {}
    for letter in queued:
        problem = _missing_address(letter.customer)
        if problem is not None:
            skipped.append(SkippedLetter(letter.id, letter.customer.customer_number, problem))
        else:
            newest[letter.customer_id] = letter  # ordered by id: the last one wins
    chosen = sorted(newest.values(), key=lambda letter: letter.id)
    merged = [
        letter
        for letter in queued
        if letter.customer_id in newest and newest[letter.customer_id] is not letter
    ]
    return _Selection(chosen, merged, skipped, newest)


async def _content(
    tx: Transaction, hasher: KeyedHasher, letter: Letter, now: datetime
) -> LetterContent:
    """What goes on the letter's page, with a fresh code issued for it."""
    customer, organization = letter.customer, letter.organization
    issued = await issue(
        tx, hasher, customer, LETTER_DESTINATION, now, organization.activation_code_days
    )
    return LetterContent(
        letter_id=letter.id,
        organization_name=organization.name,
        desk_contact=organization.desk_contact,
        customer_number=customer.customer_number,
        name=customer.name,
        street=customer.street or "",
        house_number=customer.house_number or "",
        postcode=customer.postcode or "",
        city=customer.city or "",
        code=issued.code,
        expires_at=issued.expires_at,
        letter_date=now.astimezone(DESK_TIMEZONE).date(),
    )


async def _mark_exported(tx: Transaction, selection: _Selection, batch: str, now: datetime) -> None:
    """Mark the printed and the merged letters exported in ``batch``, and audit each."""
    printed: list[tuple[Letter, dict[str, int]]] = [(letter, {}) for letter in selection.chosen]
    superseded = [
        (letter, {"superseded_by": selection.newest[letter.customer_id].id})
        for letter in selection.merged
    ]
    for letter, extra in printed + superseded:
        await tx.letters.mark_exported(letter, batch, now)
        await tx.audit.add(
            AuditAction.LETTER_EXPORTED,
            actor="cli",
            channel="cli",
            now=now,
            organization_id=letter.organization_id,
            letter_id=letter.id,
            batch=batch,
            **extra,
        )


async def export_batch(
    store: Store,
    hasher: KeyedHasher,
    out_dir: Path,
    now: datetime,
    partner_id: str | None = None,
) -> ExportResult:
    """``export_letters`` in its own transaction; the files are removed if it does not commit."""
    result: ExportResult | None = None
    try:
        async with store.transaction() as tx:
            organization_id = None
            if partner_id is not None:
                organization_id = (await accounts.organization(tx, partner_id)).id
            result = await export_letters(tx, hasher, out_dir, now, organization_id)
    except BaseException:
        if result is not None:
            result.remove_files()
        raise
    return result


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to a spreadsheet (CSV injection)."""


def csv_cell(value: object) -> str:
    """``value`` as a manifest cell a spreadsheet shows as text: a cell that would start a
    formula (``=HYPERLINK(...)`` as a name) gets a leading single quote, as OWASP advises."""
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _manifest(contents: Sequence[LetterContent]) -> bytes:
    """The CSV for the print-and-mail service: addresses and page numbers, never a code."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(MANIFEST_COLUMNS)
    for page, content in enumerate(contents, start=1):
        writer.writerow(
            csv_cell(cell)
            for cell in [
                content.letter_id,
                content.organization_name,
                content.customer_number,
                content.name,
                content.street,
                content.house_number,
                content.postcode,
                content.city,
                page,
            ]
        )
    return buffer.getvalue().encode("utf-8")


def _write_batch(
    out_dir: Path, now: datetime, pdf_bytes: bytes, manifest_bytes: bytes
) -> tuple[Path, Path]:
    """Write both files under temporary names (mode 0600), then give them their names."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = now.astimezone(DESK_TIMEZONE).strftime("%Y%m%d-%H%M%S")
    name, n = f"letters-{stamp}", 1
    while (out_dir / f"{name}.pdf").exists() or (out_dir / f"{name}.csv").exists():
        n += 1
        name = f"letters-{stamp}-{n}"
    final = (out_dir / f"{name}.pdf", out_dir / f"{name}.csv")
    temporary: list[Path] = []
    try:
        for data in (pdf_bytes, manifest_bytes):
            temporary.append(_write_private_temp(out_dir, data))
        for temp, path in zip(temporary, final, strict=True):
            os.replace(temp, path)
    except BaseException:
        for path in (*temporary, *final[: len(temporary)]):
            path.unlink(missing_ok=True)
        raise
    return final


def _write_private_temp(directory: Path, data: bytes) -> Path:
    descriptor, name = tempfile.mkstemp(dir=directory, prefix=".letters-", suffix=".part")
    path = Path(name)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
