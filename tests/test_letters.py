"""Letters with an activation code: queued, exported as one PDF plus a CSV manifest, sent."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from bot.letters import export_batch, export_letters, printable, render_batch
from flows import accounts
from flows.activation_codes import normalized, subject_of
from flows.domain import AuditAction, CodePurpose, LetterStatus
from flows.model import Customer, Letter, OneTimeCode
from storage.uow import Store
from tests.support import START, TEST_HASHER, code_matches, migrated_store

CODE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")


async def _organization(store: Store, partner_id: str = "BLG-1001", name: str = "BLG Wonen") -> int:
    async with store.transaction() as tx:
        organization = await accounts.add_organization(tx, name, partner_id, START)
        organization.desk_contact = "030 123 45 67 of klantenservice@blgwonen.example"
        return organization.id


async def _queue_letter(
    store: Store,
    organization_id: int,
    number: str,
    name: str,
    *,
    street: str | None = "Oudegracht",
    house_number: str | None = "12 bis",
    postcode: str | None = "3511ab",
    city: str | None = "Utrecht",
    at: datetime = START,
) -> tuple[int, int]:
    """A customer (found by number, else new) and a queued letter to them: (customer, letter)."""
    async with store.transaction() as tx:
        customer = (
            await tx.session.scalars(
                select(Customer).where(
                    Customer.organization_id == organization_id, Customer.customer_number == number
                )
            )
        ).first()
        if customer is None:
            customer = Customer(
                organization_id=organization_id,
                customer_number=number,
                name=name,
                street=street,
                house_number=house_number,
                postcode=postcode,
                city=city,
                is_tenant=True,
                created_at=at,
                updated_at=at,
            )
            tx.session.add(customer)
            await tx.session.flush()
        letter = await tx.letters.queue(
            Letter(
                organization_id=organization_id,
                customer_id=customer.id,
                status=LetterStatus.QUEUED,
                created_at=at,
            )
        )
        return customer.id, letter.id


def _pdf_pages(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def _manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


async def test_export_renders_the_letter_and_a_manifest_without_the_code(
    store: Store, tmp_path: Path
) -> None:
    organization_id = await _organization(store)
    customer_id, letter_id = await _queue_letter(store, organization_id, "100234", "Zoë de Wit")
    out = tmp_path / "letters"
    now = START + timedelta(hours=1)

    async with store.transaction() as tx:
        result = await export_letters(tx, TEST_HASHER, out, now)

    assert result.count == 1 and result.letter_ids == (letter_id,)
    assert result.pdf is not None and result.manifest is not None
    assert sorted(out.iterdir()) == sorted([result.pdf, result.manifest])  # no temporary left
    assert result.pdf.name.startswith("letters-") and result.pdf.suffix == ".pdf"
    assert result.manifest == result.pdf.with_suffix(".csv")
    assert stat.S_IMODE(result.pdf.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.manifest.stat().st_mode) == 0o600

    [text] = _pdf_pages(result.pdf)
    assert "Zoë de Wit" in text
    assert "Oudegracht 12 bis" in text
    assert "3511 AB  UTRECHT" in text
    assert "BLG Wonen" in text and "klantenservice@blgwonen.example" in text
    assert "100234" in text
    assert "/activate" in text and "Activatiecode" in text and "Activation code" in text
    assert "25 november 2026" in text  # the letter's date
    assert "9 december 2026, 11:00 uur" in text  # valid 14 days, shown in desk time
    [code] = CODE.findall(text)

    async with store.transaction() as tx:
        customer = await tx.session.get(Customer, customer_id)
        assert customer is not None
        stored = await tx.codes.current(subject_of(customer), CodePurpose.ACTIVATION)
        assert stored is not None
        assert code_matches(stored, code)
        assert stored.expires_at == now + timedelta(days=14)
        letter = await tx.letters.get(letter_id)
        assert letter is not None
        assert letter.status is LetterStatus.EXPORTED
        assert letter.exported_at == now
        assert letter.batch == result.batch == result.pdf.stem
        [entry] = await tx.audit.entries(AuditAction.LETTER_EXPORTED)
        assert entry.organization_id == organization_id
        assert entry.detail == {"letter_id": letter_id, "batch": result.batch}
        assert (entry.actor, entry.channel) == ("cli", "cli")

    manifest_text = result.manifest.read_text(encoding="utf-8")
    assert code not in manifest_text and normalized(code) not in manifest_text
    assert _manifest(result.manifest) == [
        {
            "letter_id": str(letter_id),
            "organization": "BLG Wonen",
            "customer_number": "100234",
            "name": "Zoë de Wit",
            "street": "Oudegracht",
            "house_number": "12 bis",
            "postcode": "3511ab",
            "city": "Utrecht",
            "page": "1",
        }
    ]

    # Everything was sent: a second export writes nothing.
    async with store.transaction() as tx:
        again = await export_letters(tx, TEST_HASHER, out, now + timedelta(minutes=5))
    assert again.count == 0 and again.paths == [] and again.pdf is None
    assert sorted(out.iterdir()) == sorted([result.pdf, result.manifest])


async def test_one_batch_for_several_letters_with_accented_names(
    store: Store, tmp_path: Path
) -> None:
    organization_id = await _organization(store)
    _, first = await _queue_letter(store, organization_id, "1", "Ömer Çelik")
    _, second = await _queue_letter(
        store, organization_id, "2", "Şükrü Yıldız", street="Straße", city="Den Haag"
    )
    async with store.transaction() as tx:
        result = await export_letters(tx, TEST_HASHER, tmp_path, START)
    assert result.letter_ids == (first, second)
    assert result.pdf is not None and result.manifest is not None

    pages = _pdf_pages(result.pdf)
    assert len(pages) == 2
    assert "Ömer Çelik" in pages[0] and "Şükrü" not in pages[0]
    # Outside Windows-1252: the closest letters, as on any postal address.
    assert "Sükrü Yildiz" in pages[1] and "Straße 12 bis" in pages[1]
    assert "3511 AB  DEN HAAG" in pages[1]
    codes = [CODE.findall(page) for page in pages]
    assert all(len(found) == 1 for found in codes) and codes[0] != codes[1]

    rows = _manifest(result.manifest)
    assert [(row["name"], row["page"]) for row in rows] == [
        ("Ömer Çelik", "1"),
        ("Şükrü Yıldız", "2"),
    ]


async def test_manifest_cells_never_become_formulas(store: Store, tmp_path: Path) -> None:
    """OWASP's CSV-injection advice: a cell that starts with = + - @, a tab or a CR gets a
    leading single quote, so a spreadsheet shows it as text."""
    organization_id = await _organization(store)
    await _queue_letter(store, organization_id, "1", '=HYPERLINK("http://x","y")')
    await _queue_letter(
        store, organization_id, "2", "+31 Wonen", street="-Laan", city="@home", house_number="\t3"
    )
    await _queue_letter(store, organization_id, "3", "Gewone Naam", street="\rStraat")
    async with store.transaction() as tx:
        result = await export_letters(tx, TEST_HASHER, tmp_path, START)
    assert result.manifest is not None
    rows = _manifest(result.manifest)
    assert rows[0]["name"] == '\'=HYPERLINK("http://x","y")'
    assert (rows[1]["name"], rows[1]["street"], rows[1]["city"], rows[1]["house_number"]) == (
        "'+31 Wonen",
        "'-Laan",
        "'@home",
        "'\t3",
    )
    assert rows[2]["name"] == "Gewone Naam" and rows[2]["street"] == "'\rStraat"
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)


async def test_nothing_queued_writes_nothing(store: Store, tmp_path: Path) -> None:
    await _organization(store)
    out = tmp_path / "letters"
    result = await export_batch(store, TEST_HASHER, out, START)
    assert result.count == 0 and result.paths == []
    assert not out.exists()


async def test_letter_without_an_address_stays_queued(store: Store, tmp_path: Path) -> None:
    organization_id = await _organization(store)
    _, letter_id = await _queue_letter(store, organization_id, "7", "Eva Jansen", postcode=None)
    result = await export_batch(store, TEST_HASHER, tmp_path / "out", START)
    assert result.count == 0 and result.paths == []
    [skipped] = result.skipped
    assert (skipped.letter_id, skipped.customer_number) == (letter_id, "7")
    assert skipped.reason == "no postcode on file"
    async with store.transaction() as tx:
        letter = await tx.letters.get(letter_id)
        assert letter is not None and letter.status is LetterStatus.QUEUED
        assert await tx.session.scalar(select(OneTimeCode.id)) is None  # no code was made


async def test_only_the_newest_letter_to_a_customer_is_printed(
    store: Store, tmp_path: Path
) -> None:
    """A new code replaces the old one, so two letters to one person would carry a dead code."""
    organization_id = await _organization(store)
    _, older = await _queue_letter(store, organization_id, "5", "Eva Jansen")
    _, newer = await _queue_letter(store, organization_id, "5", "Eva Jansen")
    result = await export_batch(store, TEST_HASHER, tmp_path, START)
    assert result.letter_ids == (newer,) and result.merged_ids == (older,)
    assert result.pdf is not None
    assert len(_pdf_pages(result.pdf)) == 1
    async with store.transaction() as tx:
        for letter_id in (older, newer):
            letter = await tx.letters.get(letter_id)
            assert letter is not None and letter.status is LetterStatus.EXPORTED
        entries = await tx.audit.entries(AuditAction.LETTER_EXPORTED)
        assert {entry.detail["letter_id"] for entry in entries} == {older, newer}


async def test_export_for_one_organization(store: Store, tmp_path: Path) -> None:
    blg = await _organization(store)
    other = await _organization(store, "ZZ-2002", "Zuid Wonen")
    _, blg_letter = await _queue_letter(store, blg, "1", "Eva Jansen")
    _, other_letter = await _queue_letter(store, other, "1", "Piet Pieters")
    result = await export_batch(store, TEST_HASHER, tmp_path, START, partner_id="zz-2002")
    assert result.letter_ids == (other_letter,)
    async with store.transaction() as tx:
        assert [letter.id for letter in await tx.letters.queued()] == [blg_letter]
    with pytest.raises(accounts.AccountError, match="unknown organization"):
        await export_batch(store, TEST_HASHER, tmp_path, START, partner_id="NOPE-1")


def test_render_batch_and_printable() -> None:
    assert printable("Zoë Ömer Çelik Åse €") == "Zoë Ömer Çelik Åse €"
    assert printable("Łukasz Dvořák Şahin Nguyễn 漢") == "Lukasz Dvorák Sahin Nguyen ?"
    assert printable("a\u200bb\x07c\nd") == "abc\nd"
    assert render_batch([]).startswith(b"%PDF-")


# --- the command ----------------------------------------------------------------------------


def _balie(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BALIE_DATABASE_URL": _sqlite(tmp_path)}
    for name in ("BALIE_TELEGRAM_TOKEN", "BALIE_SMTP_HOST", "BALIE_TWILIO_ACCOUNT_SID"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'balie.sqlite3'}"


def _queue_through_the_store(tmp_path: Path, number: str, name: str) -> int:
    async def queue() -> int:
        store = await migrated_store(_sqlite(tmp_path))
        try:
            async with store.transaction() as tx:
                organization = await accounts.organization(tx, "BLG-1001")
            _, letter_id = await _queue_letter(store, organization.id, number, name)
            return letter_id
        finally:
            await store.close()

    return asyncio.run(queue())


def test_balie_letters_export(tmp_path: Path) -> None:
    added = _balie(tmp_path, "org", "add", "BLG Wonen", "--partner-id", "BLG-1001")
    assert added.returncode == 0, added.stderr
    _queue_through_the_store(tmp_path, "100234", "Zoë de Wit")

    out = tmp_path / "batch"
    first = _balie(tmp_path, "letters", "export", "--out", str(out))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[-1] == "exported 1 letter"
    pdf, manifest = (Path(line) for line in lines[:2])
    assert pdf.parent == out and pdf.suffix == ".pdf" and pdf.exists()
    assert manifest == pdf.with_suffix(".csv") and manifest.exists()
    [text] = _pdf_pages(pdf)
    assert "Zoë de Wit" in text and len(CODE.findall(text)) == 1

    second = _balie(tmp_path, "letters", "export", "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "no letters to export"
    assert sorted(out.iterdir()) == sorted([pdf, manifest])

    # Without --out the batch goes to ./letters/.
    _queue_through_the_store(tmp_path, "100235", "Eva Jansen")
    third = _balie(tmp_path, "letters", "export")
    assert third.returncode == 0, third.stderr
    assert third.stdout.splitlines()[-1] == "exported 1 letter"
    assert len(list((tmp_path / "letters").glob("letters-*.pdf"))) == 1
