"""Invitations in chat: opening a deep link (``/start <token>``) and the manager's ``/invite``.

```mermaid
stateDiagram-v2
    [*] --> CHOOSE_PASSWORD: /start TOKEN, usable, chat free or already the person's
    [*] --> IDLE: unknown, used, withdrawn or expired token (one neutral reply, the menu)
    [*] --> IDLE: the chat belongs to another account (said; the token stays usable)
    CHOOSE_PASSWORD --> IDLE: password set: the invitation is confirmed
```

Telegram sends a deep link's payload as ``/start <token>``. A usable token links the chat to
the invited person, makes them active (the manager's invitation is the approval: seed 003
"we made an account for you") and asks for a password. Every token that opens nothing gets
the same words, and counts as a wrong attempt of the chat. A chat linked to another account
is not taken over by a token: the person is told to open the link in their own chat.
"""

from __future__ import annotations

from flows import devices, invitations, link_tokens, linking, password_flow
from flows.decisions import Power, acting, refuse
from flows.domain import AccountStatus, AuditAction
from flows.invitations import InvitationRefused, Inviter, Issued
from flows.turn import Turn


async def open_invitation(turn: Turn, token: str) -> bool:
    """``/start <token>``; False when it opened nothing (the caller shows the menu)."""
    chat = turn.event.chat_id
    guard = link_tokens.EMPLOYEE_INVITATION
    if await guard.limited(turn):
        return False
    invitation = await invitations.find(turn.tx, turn.hasher, token)
    if invitation is None or not invitations.usable(invitation, turn.now):
        await guard.count_wrong(turn)
        await turn.audit(
            AuditAction.INVITATION_REFUSED,
            organization_id=invitation.organization_id if invitation else None,
            reason="unusable",
            chat_id=chat,
        )
        turn.say("invitation_unusable")
        return False
    person = invitation.person
    linked = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
    if linked is not None and linked.id != person.id:
        await turn.audit(
            AuditAction.INVITATION_REFUSED,
            organization_id=invitation.organization_id,
            actor_person_id=linked.id,
            subject_person_id=person.id,
            reason="chat_linked",
        )
        turn.say("invitation_chat_taken", name=linked.name, org=linked.organization.name)
        return False
    invitation.opened_at = turn.now
    if person.status is AccountStatus.PENDING:
        person.status = AccountStatus.ACTIVE
    # A first chat needs no notice (the person just opened their own mail); a chat that
    # replaces an earlier one is told to that chat and address, with Undo, as ever.
    previous = await turn.tx.chat_links.chat_for(person.id)
    await linking.link_person(
        turn.tx,
        turn.hasher,
        turn.policy,
        person,
        chat,
        turn.now,
        tell=previous is not None,
        device_name=devices.device_name(turn.event.sender),
    )
    await turn.audit(
        AuditAction.INVITATION_OPENED,
        organization_id=invitation.organization_id,
        subject_person_id=person.id,
        invitation_id=invitation.id,
        chat_id=chat,
    )
    turn.say("invitation_welcome", name=person.name, org=person.organization.name)
    password_flow.ask_for_password(turn, person, reason=invitations.INVITATION_REASON)
    return True


async def invite(turn: Turn) -> None:
    """``/invite EMAIL [NAME]``, ``/invite resend EMAIL``, ``/invite withdraw EMAIL``: a
    manager, for their own organization."""
    manager = await acting(turn, Power.DECIDE)
    if manager is None:
        await refuse(turn, Power.DECIDE, "invite")
        return
    words = turn.event.text.split()
    action = words[0].lower() if words else ""
    if action in {"resend", "withdraw"}:
        words = words[1:]
    else:
        action = "issue"
    if not words or (action != "issue" and len(words) != 1):
        turn.say("invite_usage")
        return
    inviter = Inviter(turn.hasher, turn.policy, turn.links, manager)
    organization = manager.organization
    email, name = words[0], " ".join(words[1:]) or None
    try:
        if action == "withdraw":
            person = await invitations.withdraw(turn.tx, organization, email, turn.now)
            issued: Issued | None = None
        elif action == "resend":
            issued = await invitations.resend(turn.tx, inviter, organization, email, turn.now)
            person = issued.person
        else:
            issued = await invitations.issue(turn.tx, inviter, organization, email, name, turn.now)
            person = issued.person
    except InvitationRefused as refused:
        turn.say_text(turn.texts(refused.message_id, **refused.values))
        return
    await turn.audit(
        invitations.AUDIT[action],
        organization_id=organization.id,
        actor_person_id=manager.id,
        subject_person_id=person.id,
    )
    if issued is None:
        turn.say("invite_withdrawn", name=person.name)
        return
    turn.say(
        "invite_sent",
        name=person.name,
        email=person.email or "",
        until=turn.texts.when(issued.invitation.expires_at),
    )
