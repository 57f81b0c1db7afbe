"""``balie demo``: an organization with managers and employees, to try every flow at once."""

from __future__ import annotations

from datetime import datetime

from flows import accounts
from flows.customer_import import import_customers, parse_customers
from flows.domain import Role
from storage.uow import Transaction

DEMO_PARTNER_ID = "DEMO-1234"
DEMO_MANAGER_CHAT = 1001
DEMO_SECOND_MANAGER_CHAT = 1002
DEMO_STAFF_CHAT = 1003
DEMO_DESK_CONTACT = "030 700 1234, balie@demo-wonen.example"

DEMO_CUSTOMERS = """\
customer_number;name;email;phone;street;house_number;postcode;city;is_tenant;\
institution_coresident;payment_arrangement;under_administration;administrator_name;\
administrator_email;blocked
200001;Anna de Vries;anna.devries@demo-mail.example;06 11223344;Lindenlaan;12;3581 AB;\
Utrecht;ja;nee;nee;nee;;;nee
200002;Henk Bakker;;;Kastanjestraat;4;3582 CK;Utrecht;ja;nee;nee;nee;;;nee
200003;Sem Jansen;sem.jansen@demo-mail.example;;Eikenlaan;7;3571 BT;Utrecht;nee;nee;nee;\
nee;;;nee
200004;Wim Visser;wim.visser@demo-mail.example;;Berkenhof;3;3721 GH;Bilthoven;ja;nee;nee;\
ja;Bewindvoering Utrecht;bewind@demo-mail.example;ja
200005;Lotte Smit;lotte.smit@demo-mail.example;;Esdoornlaan;21;3572 KL;Utrecht;ja;nee;ja;\
nee;;;nee
"""
"""Tenants for each branch of seed 002: e-mail (Anna), letter (Henk), no code (Sem: not a
tenant; Lotte: payment arrangement), the administrator asks (Wim)."""


async def create_demo(tx: Transaction, now: datetime) -> str:
    """Create the demo organization once; a second run says it is already there."""
    if await tx.organizations.by_partner_id(DEMO_PARTNER_ID) is not None:
        return f"the demo organization (partner ID {DEMO_PARTNER_ID}) is already there"
    organization = await accounts.add_organization(tx, "Demo Wonen", DEMO_PARTNER_ID, now)
    organization.desk_contact = DEMO_DESK_CONTACT
    staff = [
        ("Marieke de Manager", Role.MANAGER, "marieke@demo-wonen.example", DEMO_MANAGER_CHAT),
        ("Mohammed Manager", Role.MANAGER, "mohammed@demo-wonen.example", DEMO_SECOND_MANAGER_CHAT),
        ("Sanne van de Balie", Role.STAFF, "sanne@demo-wonen.example", DEMO_STAFF_CHAT),
    ]
    for name, role, address, chat in staff:
        await accounts.add_staff(
            tx,
            partner_id=DEMO_PARTNER_ID,
            name=name,
            role=role,
            email=address,
            phone=None,
            telegram_id=chat,
            now=now,
        )
    employees: list[tuple[str, str | None, str | None, list[str]]] = [
        ("Eva Jansen", "eva.jansen@kantoor-demo.example", None, ["Utrecht"]),
        ("Piet de Vries", None, "+31 6 12345678", ["Utrecht", "Zeist"]),
        ("Fatima El Amrani", "fatima@kantoor-demo.example", "+31 6 87654321", ["Zeist"]),
    ]
    for name, email, phone, offices in employees:
        await accounts.add_employee(
            tx,
            partner_id=DEMO_PARTNER_ID,
            name=name,
            email=email,
            phone=phone,
            offices=offices,
            now=now,
        )
    summary = await import_customers(tx, organization, parse_customers(DEMO_CUSTOMERS), now)
    assert not summary.refused, summary.refused
    return (
        f"created the demo organization Demo Wonen (partner ID {DEMO_PARTNER_ID}) with managers "
        f"Marieke (Telegram user {DEMO_MANAGER_CHAT}) and Mohammed ({DEMO_SECOND_MANAGER_CHAT}), "
        f"desk staff Sanne ({DEMO_STAFF_CHAT}) and pre-added employees Eva "
        "(eva.jansen@kantoor-demo.example), Piet (06 12345678) and Fatima.\n"
        "Try it: `balie chat`, press Register, type DEMO-1234 and eva.jansen@kantoor-demo.example; "
        "then `/as manager` to approve.\n"
        f"Tenants for activation codes (customer number, postcode, house number): Anna "
        f"200001 3581 AB 12 (code by e-mail), Henk 200002 3582 CK 4 (by letter: `/as staff`, "
        f"release, then `balie letters export`)."
    )
