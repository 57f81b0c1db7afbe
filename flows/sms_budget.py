"""SMS only where, and as often as, the desk pays for it: a guard against SMS pumping.

Strangers can make the desk send codes, and each text message costs money; fraudsters
exploit that by having codes sent to premium numbers abroad. So codes go by SMS only to
mobile numbers of the countries the desk works in (``BALIE_SMS_COUNTRIES``, checked where the
number is parsed), and within an hourly budget per organization and for the whole
deployment. Beyond the budget codes go by e-mail only, and the organization's desk is told
once an hour.
"""

from __future__ import annotations

from datetime import datetime

from flows import cards, limits
from flows.domain import AuditAction, DeliveryChannel
from flows.store import Transaction
from flows.turn import DeskPolicy

_ALL = "all"


def _global(policy: DeskPolicy) -> limits.Limit:
    return limits.Limit("sms_sent", policy.sms_per_hour)


def _per_organization(policy: DeskPolicy) -> limits.Limit:
    return limits.Limit("sms_sent_org", policy.sms_per_hour_per_org)


async def deployment_has_room(tx: Transaction, policy: DeskPolicy, now: datetime) -> bool:
    """Whether the deployment may send one more code SMS (known before any account is)."""
    return not await limits.wait_needed(tx, _global(policy), _ALL, now)


async def has_room(
    tx: Transaction, policy: DeskPolicy, organization_id: int | None, now: datetime
) -> bool:
    """Whether one more code SMS fits both budgets; when the organization's is spent, its
    desk is told (once an hour)."""
    if not await deployment_has_room(tx, policy, now):
        return False
    if organization_id is None:
        return True
    if not await limits.wait_needed(tx, _per_organization(policy), str(organization_id), now):
        return True
    await _tell_desk_once(tx, policy, organization_id, now)
    return False


async def spend(
    tx: Transaction, policy: DeskPolicy, organization_id: int | None, now: datetime
) -> None:
    """Count one code SMS against both budgets."""
    await limits.record(tx, _global(policy), _ALL, now)
    if organization_id is not None:
        await limits.record(tx, _per_organization(policy), str(organization_id), now)


async def _tell_desk_once(
    tx: Transaction, policy: DeskPolicy, organization_id: int, now: datetime
) -> None:
    alert = limits.Limit("sms_budget_alert", 1)
    if await limits.wait_needed(tx, alert, str(organization_id), now):
        return
    await limits.record(tx, alert, str(organization_id), now)
    organization = await tx.organizations.get(organization_id)
    name = organization.name if organization else "?"
    for person, chat_id in await tx.people.desk_with_chats(organization_id):
        texts = cards.texts_for(person, policy)
        await tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(chat_id),
            texts("staff_sms_budget_spent", org=name, count=policy.sms_per_hour_per_org),
            now,
            organization_id=organization_id,
        )
    await tx.audit.add(
        AuditAction.SMS_BUDGET_SPENT,
        actor="desk",
        channel="desk",
        now=now,
        organization_id=organization_id,
    )
