"""Customer import: parsing a CSV file, the idempotent upsert, and `balie import customers`."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from flows import accounts
from flows.customer_import import (
    COLUMNS,
    CustomerRow,
    ImportFileError,
    ImportSummary,
    ParsedFile,
    RefusedRow,
    import_customers,
    parse_customers,
    read_customers,
)
from flows.model import Customer
from storage.uow import Store
from tests.support import FakeClock, portal_chats_of

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "samples" / "customers.csv"
HEADER = ",".join(COLUMNS)


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


ANNA = "K-001,Anna de Vries,Anna.deVries@Example.NL,06 12345678,Lindenlaan,12,3581ab,Utrecht,"
ANNA += "true,false,false,false,,,false"
HENK = "K-002,Henk Bakker,,030 2345678,Kastanjestraat,4 bis,3582 CK,Utrecht,1,0,0,0,,,0"
GERRIT = "K-003,Gerrit Jansen,,,Populierenlaan,2,3708AL,Zeist,ja,nee,ja,ja,"
GERRIT += "Bewind BV,Bewind@Bewind.example,nee"
THREE = csv_text(ANNA, HENK, GERRIT)


# Parsing -------------------------------------------------------------------------------


def test_the_row_has_exactly_the_documented_columns() -> None:
    names = {f.name for f in dataclasses.fields(CustomerRow)}
    assert names == {"line", "columns", *COLUMNS}


def test_a_comma_file_is_parsed_and_normalized() -> None:
    parsed = parse_customers(THREE)
    assert parsed.delimiter == ","
    assert parsed.refused == [] and parsed.warnings == []
    anna, henk, gerrit = parsed.rows
    assert (anna.line, henk.line, gerrit.line) == (2, 3, 4)
    assert anna.values() == {
        "customer_number": "K-001",
        "name": "Anna de Vries",
        "email": "anna.devries@example.nl",
        "phone": "+31612345678",
        "street": "Lindenlaan",
        "house_number": "12",
        "postcode": "3581 AB",
        "city": "Utrecht",
        "is_tenant": True,
        "institution_coresident": False,
        "payment_arrangement": False,
        "under_administration": False,
        "administrator_name": None,
        "administrator_email": None,
        "blocked": False,
    }
    assert henk.email is None and henk.phone == "+31302345678" and henk.is_tenant
    assert henk.house_number == "4 bis" and henk.postcode == "3582 CK"
    assert gerrit.under_administration and gerrit.payment_arrangement and not gerrit.blocked
    assert gerrit.administrator_name == "Bewind BV"
    assert gerrit.administrator_email == "bewind@bewind.example"
    assert gerrit.postcode == "3708 AL"


def test_a_semicolon_file_with_a_bom_as_dutch_excel_writes_it() -> None:
    text = "\r\n".join(
        [
            ";".join(COLUMNS),
            "K-001;Anna de Vries;anna@example.nl;;Dorpsstraat, achterom;1;;;ja;nee;;;;;",
            "K-002;Jan Smit;;;;;B-1000;Brussel;NEE;JA;WAAR;ONWAAR;;;j",
            "",
        ]
    )
    parsed = parse_customers(text.encode("utf-8-sig"))
    assert parsed.delimiter == ";" and parsed.refused == []
    anna, jan = parsed.rows
    assert anna.customer_number == "K-001"  # the BOM is not part of the first column's name
    assert anna.street == "Dorpsstraat, achterom" and anna.is_tenant and not anna.blocked
    assert anna.phone is None and anna.postcode is None and anna.city is None
    assert jan.postcode == "B-1000"  # not Dutch: kept as is
    assert not jan.is_tenant and jan.institution_coresident and jan.payment_arrangement
    assert not jan.under_administration and jan.blocked


def test_a_bom_in_text_and_the_same_file_in_bytes_give_the_same_rows() -> None:
    assert parse_customers("\ufeff" + THREE).rows == parse_customers(THREE.encode()).rows


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        ("ja", True),
        ("Nee", False),
        ("yes", True),
        ("no", False),
        ("J", True),
        ("n", False),
        ("", False),
        (" ja ", True),
    ],
)
def test_yes_and_no_words(word: str, value: bool) -> None:
    parsed = parse_customers(csv_text(f"K-1,Jan,,,,,,,,,,,,,{word}"))
    assert parsed.rows[0].blocked is value


def test_header_names_are_trimmed_and_case_insensitive_and_columns_may_be_missing() -> None:
    parsed = parse_customers(
        csv_text("K-1,Jan,JAN@x.example", header=" Customer_Number , NAME,Email")
    )
    (row,) = parsed.rows
    assert row.columns == {"customer_number", "name", "email"}
    assert row.values() == {"customer_number": "K-1", "name": "Jan", "email": "jan@x.example"}


def test_unknown_columns_are_ignored_with_a_warning() -> None:
    parsed = parse_customers(csv_text("K-1,Jan,x,y", header="customer_number,name,Remark,iban"))
    assert parsed.rows[0].values() == {"customer_number": "K-1", "name": "Jan"}
    assert parsed.warnings == ["ignored unknown columns: Remark, iban"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("name,email\nJan,jan@x.example\n", "the header lacks the column customer_number"),
        ("email;phone\n", "the header lacks the columns customer_number, name"),
        ("", "the file is empty"),
        ("\n  \n", "the file is empty"),
        ("customer_number,name,Name\n", "the header names the column name twice"),
        (
            "customer_number;name;city\nK-1;Jos;Den Bosch\nK-2;Joëlle;'s-Hertogenbosch\n".encode(
                "latin-1"
            ),
            "the file is not UTF-8 text; save it as CSV UTF-8",
        ),
        (b"customer_number,name\nK-1,\x00\n", "the file is not CSV text"),
    ],
)
def test_a_file_that_cannot_be_imported_at_all(data: str | bytes, message: str) -> None:
    with pytest.raises(ImportFileError) as raised:
        parse_customers(data)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_each_refused_row_has_its_line_and_reason() -> None:
    text = csv_text(
        "K-1,Goed,,,,,,,,,,,,,",  # line 2: fine
        ",Geen Nummer,,,,,,,,,,,,,",  # 3
        "K-4,,,,,,,,,,,,,,",  # 4
        "K-5,Jan,jan@,,,,,,,,,,,,",  # 5
        "K-6,Jan,,12345,,,,,,,,,,,",  # 6
        "K-7,Jan,,,,,,,misschien,,,,,,",  # 7
        "K-8,Jan,,,,,,,,,,ja,Bewind BV,bewind@,",  # 8
        "K-9,Jan,,,Laan,1,,Utrecht,,,,,,,,extra",  # 9: a value too many
        "K-10,Jan,,,Laan",  # 10: too few values
        "K-1,Dubbel,,,,,,,,,,,,,",  # 11: duplicate of line 2
        f"K-12,{'x' * 201},,,,,,,,,,,,,",  # 12
        "K-13,Jan,nope,0000,,,,,2,,,,,,",  # 13: three problems at once
    )
    parsed = parse_customers(text)
    assert [r.customer_number for r in parsed.rows] == ["K-1"]
    assert parsed.refused == [
        RefusedRow(3, "customer_number is empty"),
        RefusedRow(4, "name is empty"),
        RefusedRow(5, "email 'jan@' is not a valid e-mail address"),
        RefusedRow(6, "phone '12345' is not a valid phone number"),
        RefusedRow(
            7, "is_tenant 'misschien' is not a yes/no value (use true/false, 1/0 or ja/nee)"
        ),
        RefusedRow(8, "administrator_email 'bewind@' is not a valid e-mail address"),
        RefusedRow(
            9,
            "the line has 16 values but the header has 15 columns"
            " (a value with the separator in it needs quotes)",
        ),
        RefusedRow(
            10,
            "the line has 5 values but the header has 15 columns"
            " (a value with the separator in it needs quotes)",
        ),
        RefusedRow(11, "customer number K-1 already on line 2"),
        RefusedRow(12, "name is longer than 200 characters"),
        RefusedRow(
            13,
            "email 'nope' is not a valid e-mail address; phone '0000' is not a valid phone"
            " number; is_tenant '2' is not a yes/no value (use true/false, 1/0 or ja/nee)",
        ),
    ]


def test_a_duplicate_is_refused_even_when_the_first_line_was_refused() -> None:
    parsed = parse_customers(csv_text("K-1,Jan,bad@,,,,,,,,,,,,", "K-1,Jan,,,,,,,,,,,,,"))
    assert parsed.rows == []
    assert parsed.refused[1] == RefusedRow(3, "customer number K-1 already on line 2")


def test_blank_lines_are_skipped_and_line_numbers_stay_those_of_the_file() -> None:
    text = csv_text(
        "",
        ",,,,,,,,,,,,,,",  # an empty spreadsheet row
        'K-1,"Jan\nJansen",,,,,,,,,,,,,',  # a quoted value over two lines
        "K-2,Piet,bad@,,,,,,,,,,,,",
    )
    parsed = parse_customers(text)
    assert [(r.line, r.name) for r in parsed.rows] == [(4, "Jan Jansen")]
    assert parsed.refused == [RefusedRow(6, "email 'bad@' is not a valid e-mail address")]


def test_trailing_separators_are_tolerated() -> None:
    parsed = parse_customers("customer_number;name;\nK-1;Jan;\nK-2;Piet;;;\nK-3;Kees\n")
    assert [r.name for r in parsed.rows] == ["Jan", "Piet", "Kees"] and parsed.refused == []


def test_white_space_is_tidied_and_long_values_are_cut_short_in_a_reason() -> None:
    parsed = parse_customers(csv_text(f"K-1,  Anna   de  Vries ,{'x' * 100}@,,,,,,,,,,,,"))
    assert parsed.refused == [
        RefusedRow(2, f"email '{'x' * 39}…' is not a valid e-mail address"),
    ]
    parsed = parse_customers(csv_text("K-1,  Anna   de  Vries ,,,,,,,,,,,,,"))
    assert parsed.rows[0].name == "Anna de Vries"


def test_a_family_may_use_a_role_address_of_their_own_domain() -> None:
    parsed = parse_customers(csv_text("K-1,Familie de Graaf,Info@DeGraaf.example,,,,,,,,,,,,"))
    assert parsed.rows[0].email == "info@degraaf.example"


def test_the_sample_file_is_read_without_refusals() -> None:
    parsed = read_customers(SAMPLE)
    assert parsed.delimiter == ";" and parsed.refused == [] and parsed.warnings == []
    rows = parsed.rows
    assert 8 <= len(rows) <= 10
    assert any(r.is_tenant and r.email for r in rows)
    assert any(r.email is None for r in rows)
    assert any(not r.is_tenant for r in rows)
    assert any(r.institution_coresident for r in rows)
    assert any(r.payment_arrangement for r in rows)
    assert any(r.under_administration and r.administrator_email for r in rows)
    assert any(r.blocked for r in rows)


def test_reading_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"^cannot read .*nope\.csv: no such file$"):
        read_customers(tmp_path / "nope.csv")
    with pytest.raises(ImportFileError, match="it is a directory"):
        read_customers(tmp_path)


def test_the_report() -> None:
    summary = ImportSummary(
        added=["K-1"],
        updated=["K-2", "K-3"],
        unchanged=[],
        refused=[RefusedRow(4, "name is empty")],
        warnings=["ignored unknown column: iban"],
    )
    assert summary.report() == (
        "added 1, updated 2, unchanged 0, refused 1\n"
        "line 4: name is empty\n"
        "warning: ignored unknown column: iban"
    )


# Storing -------------------------------------------------------------------------------

PARTNER_ID = "BLG-1001"


async def _org(store: Store, clock: FakeClock, partner_id: str = PARTNER_ID) -> None:
    async with store.transaction() as tx:
        await accounts.add_organization(tx, f"Org {partner_id}", partner_id, clock.now())


async def _import(
    store: Store, clock: FakeClock, data: str | bytes | ParsedFile, partner_id: str = PARTNER_ID
) -> ImportSummary:
    """What `balie import customers` does: read, then store, in one transaction."""
    async with store.transaction() as tx:
        parsed = data if isinstance(data, ParsedFile) else parse_customers(data)
        org = await accounts.organization(tx, partner_id)
        return await import_customers(tx, org, parsed, clock.now())


async def _snapshot(store: Store) -> list[dict[str, Any]]:
    async with store.transaction() as tx:
        result = await tx.session.execute(select(Customer.__table__).order_by(Customer.id))
        return [dict(row) for row in result.mappings()]


async def _customer(store: Store, number: str, partner_id: str = PARTNER_ID) -> Customer:
    async with store.transaction() as tx:
        org = await accounts.organization(tx, partner_id)
        customer = await tx.customers.by_number(org.id, number)
        assert customer is not None
        return customer


async def test_an_import_adds_and_a_second_import_changes_nothing(
    store: Store, clock: FakeClock
) -> None:
    await _org(store, clock)
    first = await _import(store, clock, THREE)
    assert (first.added, first.updated, first.unchanged, first.refused) == (
        ["K-001", "K-002", "K-003"],
        [],
        [],
        [],
    )
    gerrit = await _customer(store, "K-003")
    assert gerrit.name == "Gerrit Jansen" and gerrit.under_administration
    assert gerrit.administrator_email == "bewind@bewind.example"
    assert not gerrit.account_active and gerrit.password_hash is None
    assert gerrit.created_at == gerrit.updated_at == clock.now()
    before = await _snapshot(store)

    clock.advance(days=1)
    second = await _import(store, clock, THREE.replace(",", ";").encode("utf-8-sig"))
    assert second.report() == "added 0, updated 0, unchanged 3, refused 0"
    assert await _snapshot(store) == before  # not one updated_at moved


async def test_a_changed_row_updates_only_that_customer(store: Store, clock: FakeClock) -> None:
    await _org(store, clock)
    await _import(store, clock, THREE)
    before = {row["customer_number"]: row for row in await _snapshot(store)}

    clock.advance(hours=2)
    changed = THREE.replace("Kastanjestraat,4 bis", "Eikenlaan,7").replace(
        "K-002,Henk Bakker,,", "K-002,Henk Bakker,henk@bakker.example,"
    )
    summary = await _import(store, clock, changed)
    assert (summary.added, summary.updated, summary.unchanged) == (
        [],
        ["K-002"],
        ["K-001", "K-003"],
    )

    after = {row["customer_number"]: row for row in await _snapshot(store)}
    assert after["K-001"] == before["K-001"] and after["K-003"] == before["K-003"]
    henk = await _customer(store, "K-002")
    assert (henk.street, henk.house_number, henk.email) == ("Eikenlaan", "7", "henk@bakker.example")
    assert henk.updated_at == clock.now() and henk.created_at == before["K-002"]["created_at"]

    # Clearing a value is a change too; a flag going back to false as well.
    cleared = changed.replace("henk@bakker.example", "").replace("Utrecht,1,0", "Utrecht,0,0")
    summary = await _import(store, clock, cleared)
    assert summary.updated == ["K-002"]
    henk = await _customer(store, "K-002")
    assert henk.email is None and not henk.is_tenant


async def test_a_re_import_never_touches_the_account(store: Store, clock: FakeClock) -> None:
    await _org(store, clock)
    await _import(store, clock, THREE)
    async with store.transaction() as tx:
        org = await accounts.organization(tx, PARTNER_ID)
        anna = await tx.customers.by_number(org.id, "K-001")
        assert anna is not None
        anna.account_active = True
        anna.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
        anna.password_changed_at = clock.now()
        await tx.portal_chats.link(424242, anna.id, clock.now())
        anna.language = "en"

    clock.advance(days=3)
    summary = await _import(store, clock, THREE.replace("Anna de Vries", "Anna Jansen-de Vries"))
    assert summary.updated == ["K-001"]
    anna = await _customer(store, "K-001")
    assert anna.name == "Anna Jansen-de Vries"
    assert anna.account_active and anna.language == "en"
    assert await portal_chats_of(store, anna.id) == [424242]
    assert anna.password_hash == "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
    assert anna.password_changed_at == clock.now() - timedelta(days=3)


async def test_a_column_the_file_lacks_keeps_the_stored_value(
    store: Store, clock: FakeClock
) -> None:
    await _org(store, clock)
    await _import(store, clock, THREE)
    summary = await _import(
        store, clock, "customer_number,name,blocked\nK-001,Anna de Vries,ja\nK-002,Henk Bakker,\n"
    )
    assert (summary.updated, summary.unchanged) == (["K-001"], ["K-002"])
    anna = await _customer(store, "K-001")
    assert anna.blocked and anna.email == "anna.devries@example.nl" and anna.is_tenant


async def test_refused_rows_are_reported_and_the_others_imported(
    store: Store, clock: FakeClock
) -> None:
    await _org(store, clock)
    summary = await _import(
        store, clock, csv_text(ANNA, "K-009,,,,,,,,,,,,,,", HENK, ANNA.replace("Anna", "Anne"))
    )
    assert summary.added == ["K-001", "K-002"]
    assert summary.report() == (
        "added 2, updated 0, unchanged 0, refused 2\n"
        "line 3: name is empty\n"
        "line 5: customer number K-001 already on line 2"
    )
    assert len(await _snapshot(store)) == 2


async def test_plain_rows_with_a_duplicate_number_are_refused_too(
    store: Store, clock: FakeClock
) -> None:
    await _org(store, clock)
    row = CustomerRow(
        line=7, columns=frozenset({"customer_number", "name"}), customer_number="A", name="Jan"
    )
    again = dataclasses.replace(row, line=9, name="Piet")
    async with store.transaction() as tx:
        org = await accounts.organization(tx, PARTNER_ID)
        summary = await import_customers(tx, org, [row, again], clock.now())
    assert summary.added == ["A"]
    assert summary.refused == [RefusedRow(9, "customer number A already on line 7")]


@pytest.mark.parametrize(
    "bad",
    [
        b"name;email\nAnna;anna@x.example\n",
        THREE.replace("Bakker", "B\xe4kker").encode("latin-1"),
    ],
    ids=["missing-column", "latin-1"],
)
async def test_a_malformed_file_loses_nothing(store: Store, clock: FakeClock, bad: bytes) -> None:
    await _org(store, clock)
    await _import(store, clock, THREE)
    before = await _snapshot(store)
    assert len(before) == 3

    clock.advance(days=1)
    with pytest.raises(ImportFileError):
        await _import(store, clock, bad)
    after = await _snapshot(store)
    assert len(after) == 3
    assert after == before
    assert after[1]["name"] == "Henk Bakker" and after[1]["updated_at"] == before[1]["updated_at"]


async def test_each_organization_has_its_own_customers(store: Store, clock: FakeClock) -> None:
    await _org(store, clock)
    await _org(store, clock, "OTHER-1")
    await _import(store, clock, THREE)
    summary = await _import(store, clock, THREE.replace("Anna de Vries", "Anna Other"), "OTHER-1")
    assert summary.added == ["K-001", "K-002", "K-003"]
    assert (await _customer(store, "K-001")).name == "Anna de Vries"
    assert (await _customer(store, "K-001", "OTHER-1")).name == "Anna Other"


async def test_the_repository_finds_customers_by_contact(store: Store, clock: FakeClock) -> None:
    await _org(store, clock)
    await _org(store, clock, "OTHER-1")
    family = csv_text(
        "K-1,Jan de Graaf,info@degraaf.example,06 12345678,,,,,,,,,,,",
        "K-2,Els de Graaf,info@degraaf.example,,,,,,,,,,,,",
        "K-3,Kees,,0612345678,,,,,,,,,,,",
        "K-4,Ander,ander@x.example,,,,,,,,,,,,",
    )
    await _import(store, clock, family)
    await _import(store, clock, family, "OTHER-1")
    async with store.transaction() as tx:
        org = await accounts.organization(tx, PARTNER_ID)
        by_mail = await tx.customers.by_contact(org.id, email="Info@DeGraaf.example")
        by_phone = await tx.customers.by_contact(org.id, phone="+31612345678")
        either = await tx.customers.by_contact(
            org.id, email="ander@x.example", phone="+31612345678"
        )
        assert [c.customer_number for c in by_mail] == ["K-1", "K-2"]
        assert [c.customer_number for c in by_phone] == ["K-1", "K-3"]
        assert [c.customer_number for c in either] == ["K-1", "K-3", "K-4"]
        assert await tx.customers.by_contact(org.id) == []
        assert await tx.customers.by_number(org.id, "K-5") is None
        assert sorted(await tx.customers.all_numbers(org.id)) == ["K-1", "K-2", "K-3", "K-4"]


# The command ---------------------------------------------------------------------------


def _balie(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BALIE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'balie.sqlite3'}",
        "BALIE_DEFAULT_LANGUAGE": "en",
    }
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


def _customers_table(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "balie.sqlite3") as db:
        return db.execute("SELECT * FROM customers ORDER BY id").fetchall()


def test_the_import_command(tmp_path: Path) -> None:
    assert _balie(tmp_path, "org", "add", "BLG Wonen", "--partner-id", "BLG-1001").returncode == 0

    first = _balie(tmp_path, "import", "customers", str(SAMPLE), "--org", "blg-1001")
    assert first.returncode == 0, first.stderr
    count = len(_customers_table(tmp_path))
    assert first.stdout == f"added {count}, updated 0, unchanged 0, refused 0\n"
    stored = _customers_table(tmp_path)

    again = _balie(tmp_path, "import", "customers", str(SAMPLE), "--org", "BLG-1001")
    assert again.stdout == f"added 0, updated 0, unchanged {count}, refused 0\n"
    assert _customers_table(tmp_path) == stored

    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "\n".join(
            [lines[0], lines[1].replace("Lindenlaan", "Laan"), "999;;;;;;;;;;;;;;", *lines[2:]]
        )
        + "\n",
        encoding="utf-8",
    )
    partly = _balie(tmp_path, "import", "customers", str(changed), "--org", "BLG-1001")
    assert partly.returncode == 0, partly.stderr
    assert partly.stdout == (
        f"added 0, updated 1, unchanged {count - 1}, refused 1\nline 3: name is empty\n"
    )

    stored = _customers_table(tmp_path)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(SAMPLE.read_text(encoding="utf-8").replace("Anna", "Anaïs").encode("latin-1"))
    for args, error in [
        (
            [str(latin), "--org", "BLG-1001"],
            "balie: error: the file is not UTF-8 text; save it as CSV UTF-8\n",
        ),
        (
            [str(tmp_path / "missing.csv"), "--org", "BLG-1001"],
            f"balie: error: cannot read {tmp_path / 'missing.csv'}: no such file\n",
        ),
        (
            [str(SAMPLE), "--org", "NOPE-1"],
            "balie: error: unknown organization: no partner ID NOPE-1\n",
        ),
    ]:
        failed = _balie(tmp_path, "import", "customers", *args)
        assert (failed.returncode, failed.stdout, failed.stderr) == (1, "", error)
    assert _customers_table(tmp_path) == stored
