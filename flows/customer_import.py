"""Import an organization's customers (tenants, clients, parents) from a CSV file.

Two steps: ``parse_customers`` reads and checks the file without touching the store, and
``import_customers`` upserts the good rows by customer number in one transaction. The file is
UTF-8 (with or without BOM), comma- or semicolon-separated (Dutch Excel writes semicolons),
with a header row. A file-level problem raises ``ImportFileError`` before anything is written;
a bad row is refused with its line number and reason, and the other rows are imported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from flows.accounts import AccountError
from flows.domain import AuditAction
from flows.model import Customer, Organization
from flows.store import Transaction

COLUMNS = (
    "customer_number",
    "name",
    "email",
    "phone",
    "street",
    "house_number",
    "postcode",
    "city",
    "is_tenant",
    "institution_coresident",
    "payment_arrangement",
    "under_administration",
    "administrator_name",
    "administrator_email",
    "blocked",
)
"""The columns a customer file may have, in the documented order."""

REQUIRED_COLUMNS = ("customer_number", "name")
BOOLEAN_COLUMNS = frozenset(
    {
        "is_tenant",
        "institution_coresident",
        "payment_arrangement",
        "under_administration",
        "blocked",
    }
)
EMAIL_COLUMNS = frozenset({"email", "administrator_email"})

MAX_LENGTHS = {
    "customer_number": 64,
    "name": 200,
    "street": 200,
    "house_number": 20,
    "postcode": 16,
    "city": 100,
    "administrator_name": 200,
}
"""The store's column widths for free text: a longer value is refused, never cut off."""

TRUE_WORDS = frozenset({"true", "1", "ja", "j", "yes", "y", "waar"})
FALSE_WORDS = frozenset({"false", "0", "nee", "n", "no", "onwaar", ""})
"""Dutch Excel writes WAAR and ONWAAR for booleans; an empty cell means false or unknown."""

DUTCH_POSTCODE = re.compile(r"(\d{4})\s*([A-Za-z]{2})")


class ImportFileError(AccountError):
    """The file as a whole cannot be imported; the message is one line for the operator."""


@dataclass(frozen=True)
class CustomerRow:
    """One checked, normalized line of the file."""

    line: int
    columns: frozenset[str]
    """The columns the file has: a column the file lacks leaves that field as it is stored."""
    customer_number: str
    name: str
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    house_number: str | None = None
    postcode: str | None = None
    city: str | None = None
    is_tenant: bool = False
    institution_coresident: bool = False
    payment_arrangement: bool = False
    under_administration: bool = False
    administrator_name: str | None = None
    administrator_email: str | None = None
    blocked: bool = False

    def values(self) -> dict[str, str | bool | None]:
        """The imported fields: those of the file's columns."""
        return {name: getattr(self, name) for name in COLUMNS if name in self.columns}


@dataclass(frozen=True)
class RefusedRow:
    line: int
    reason: str
    """One line of English, e.g. "email 'jan@' is not a valid e-mail address"."""


@dataclass
class ParsedFile:
    rows: list[CustomerRow] = field(default_factory=list)
    refused: list[RefusedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    delimiter: str = ","


@dataclass
class ImportSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    """Customer numbers."""
    refused: list[RefusedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The CLI's output: one summary line, a line per refusal, then any warnings."""
        lines = [
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, refused {len(self.refused)}"
        ]
        lines += [f"line {r.line}: {r.reason}" for r in self.refused]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# Reading the file ------------------------------------------------------------------------


def read_customers(path: str | Path) -> ParsedFile:
    """Read and parse a customer file; an unreadable file raises ``ImportFileError``."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImportFileError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise ImportFileError(f"cannot read {path}: it is a directory") from None
    except PermissionError:
        raise ImportFileError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_customers(data)


def parse_customers(text: str | bytes) -> ParsedFile:
    """Check every line of a customer file; touches no store.

    Raises ``ImportFileError`` for a file that cannot be imported at all: not UTF-8, empty, a
    malformed CSV structure, a missing required column or a column named twice. Unknown
    extra columns are ignored with a warning.
    """
    text = _csv_text(text)
    header_line = next((line for line in text.splitlines() if line.strip()), None)
    if header_line is None:
        raise ImportFileError(f"the file is empty; expected a header row: {','.join(COLUMNS)}")
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    parsed = ParsedFile(delimiter=delimiter)
    records = _records(text, delimiter)
    if not records:
        raise ImportFileError(f"the file is empty; expected a header row: {','.join(COLUMNS)}")

    header = records[0][1]
    positions = _header_positions(header, parsed)
    first_line_of: dict[str, int] = {}
    for line, record in records[1:]:
        row = _parse_record(line, record, len(header), positions)
        at = positions["customer_number"]
        number = record[at].strip() if at < len(record) else ""
        if number:
            earlier = first_line_of.setdefault(number, line)
            if earlier != line:
                row = _duplicate(line, number, earlier)
        if isinstance(row, RefusedRow):
            parsed.refused.append(row)
        else:
            parsed.rows.append(row)
    return parsed


def _csv_text(text: str | bytes) -> str:
    """The file as text: UTF-8 (with or without Excel's byte order mark), and no NUL bytes
    (a spreadsheet saved in its own format instead of as CSV)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFileError("the file is not UTF-8 text; save it as CSV UTF-8") from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise ImportFileError("the file is not CSV text (it holds NUL bytes); save it as CSV UTF-8")
    return text


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """The CSV records that hold a value, each with the line it starts on (a quoted cell may
    span lines, so that is not its index)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    try:
        next_line = 1
        for record in reader:
            records.append((next_line, record))
            next_line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: not valid CSV ({exc})") from None
    return [(line, record) for line, record in records if any(v.strip() for v in record)]


def _duplicate(line: int, number: str, earlier: int) -> RefusedRow:
    return RefusedRow(line, f"customer number {number} already on line {earlier}")


def _header_positions(header: list[str], parsed: ParsedFile) -> dict[str, int]:
    positions: dict[str, int] = {}
    unknown: list[str] = []
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if not name:
            continue  # a trailing delimiter: an unnamed, empty column
        if name in positions:
            raise ImportFileError(f"the header names the column {name} twice")
        if name in COLUMNS:
            positions[name] = index
        else:
            unknown.append(raw.strip())
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise ImportFileError(
            f"the header lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            f" (the header is: {parsed.delimiter.join(h.strip() for h in header)};"
            f" expected: {','.join(COLUMNS)})"
        )
    if unknown:
        parsed.warnings.append(
            f"ignored unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
        )
    return positions


def _parse_record(
    line: int, record: list[str], width: int, positions: dict[str, int]
) -> CustomerRow | RefusedRow:
    # Short is wrong only where a named column is missing (Excel may end the header with a
    # separator, the rows not); extra values must be empty (a trailing separator).
    needed = max(positions.values()) + 1
    if len(record) < needed or any(v.strip() for v in record[width:]):
        return RefusedRow(
            line,
            f"the line has {len(record)} values but the header has {width} columns"
            " (a value with the separator in it needs quotes)",
        )
    # Runs of white space, line breaks in a quoted cell too, become one space.
    raw = {name: " ".join(record[index].split()) for name, index in positions.items()}
    values: dict[str, str | bool | None] = {}
    problems: list[str] = []
    for name, text in raw.items():
        value, problem = _parse_value(name, text)
        if problem:
            problems.append(problem)
        values[name] = value
    if problems:
        return RefusedRow(line, "; ".join(problems))
    return CustomerRow(line=line, columns=frozenset(positions), **values)  # type: ignore[arg-type]


def _parse_value(name: str, text: str) -> tuple[str | bool | None, str | None]:
    """The normalized value of one cell, or a problem naming the column."""
    if name in REQUIRED_COLUMNS and not text:
        return None, f"{name} is empty"
    if name in BOOLEAN_COLUMNS:
        word = text.lower()
        if word in TRUE_WORDS:
            return True, None
        if word in FALSE_WORDS:
            return False, None
        return None, f"{name} {_shown(text)} is not a yes/no value (use true/false, 1/0 or ja/nee)"
    if not text:
        return None, None
    if name in EMAIL_COLUMNS:
        try:
            result = validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            return None, f"{name} {_shown(text)} is not a valid e-mail address"
        return result.normalized.lower(), None
    if name == "phone":
        return _phone(text)
    if name == "postcode":
        match = DUTCH_POSTCODE.fullmatch(text)
        if match:
            text = f"{match.group(1)} {match.group(2).upper()}"
    limit = MAX_LENGTHS[name]
    if len(text) > limit:
        return None, f"{name} is longer than {limit} characters"
    return text, None


def _shown(text: str, limit: int = 40) -> str:
    """A cell's value quoted for a refusal, cut short so the reason stays one short line."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _phone(text: str) -> tuple[str | None, str | None]:
    problem = f"phone {_shown(text)} is not a valid phone number"
    try:
        number = phonenumbers.parse(text, "NL")
    except phonenumbers.NumberParseException:
        return None, problem
    if not phonenumbers.is_valid_number(number):
        return None, problem
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


# Storing ---------------------------------------------------------------------------------


async def import_customers(
    tx: Transaction,
    organization: Organization,
    rows: ParsedFile | Sequence[CustomerRow],
    now: datetime,
) -> ImportSummary:
    """Upsert the rows by (organization, customer number); idempotent.

    A row equal to the stored customer is counted unchanged and not written (its
    ``updated_at`` stays); a different one updates the imported fields and ``updated_at``.
    Only the file's columns are written: the account (``account_active``, ``password_hash``,
    ``language``, its chats) is never touched. Given a ``ParsedFile``, its refusals
    and warnings are carried into the summary.
    """
    summary = _summary_of(rows)
    if isinstance(rows, ParsedFile):
        rows = rows.rows
    existing = await tx.customers.all_numbers(organization.id)
    first_line_of: dict[str, int] = {}
    for row in rows:
        earlier = first_line_of.setdefault(row.customer_number, row.line)
        if earlier != row.line:
            summary.refused.append(_duplicate(row.line, row.customer_number, earlier))
            continue
        await _upsert(tx, organization, row, existing, summary, now)
    summary.refused.sort(key=lambda r: r.line)
    if summary.added or summary.updated:
        await tx.audit.add(
            AuditAction.CUSTOMERS_IMPORTED,
            actor="cli",
            channel="cli",
            now=now,
            organization_id=organization.id,
            added=len(summary.added),
            updated=len(summary.updated),
            unchanged=len(summary.unchanged),
            refused=len(summary.refused),
        )
    return summary


def _summary_of(rows: ParsedFile | Sequence[CustomerRow]) -> ImportSummary:
    """An empty summary, holding a parsed file's refusals and warnings when given one."""
    if isinstance(rows, ParsedFile):
        return ImportSummary(refused=list(rows.refused), warnings=list(rows.warnings))
    return ImportSummary()


async def _upsert(
    tx: Transaction,
    organization: Organization,
    row: CustomerRow,
    existing: dict[str, Customer],
    summary: ImportSummary,
    now: datetime,
) -> None:
    """Add the row's customer, or update the stored one's imported fields when they differ;
    the summary counts which it was."""
    values = row.values()
    customer = existing.get(row.customer_number)
    if customer is None:
        customer = Customer(
            organization_id=organization.id,
            **{name: values.get(name, _default(name)) for name in COLUMNS},
            account_active=False,
            created_at=now,
            updated_at=now,
        )
        await tx.customers.add(customer)
        existing[row.customer_number] = customer
        summary.added.append(row.customer_number)
        return
    changed = {name: v for name, v in values.items() if getattr(customer, name) != v}
    if not changed:
        summary.unchanged.append(row.customer_number)
        return
    for name, value in changed.items():
        setattr(customer, name, value)
    customer.updated_at = now
    summary.updated.append(row.customer_number)


def _default(name: str) -> bool | None:
    return False if name in BOOLEAN_COLUMNS else None
