"""The command table: /help and the Telegram menus per role come from it, and every
command in it is answered (staff ones refused to those without the power)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from flows.commands import COMMANDS, Audience, command_menu, help_text
from flows.desk import SECRET_STEPS
from flows.domain import ConversationState, Language, Role
from flows.model import Person
from flows.texts import Texts
from tests.support import DemoOrg, DeskDriver, texts_of

END_USER = 7777
USER_COMMANDS = {
    "start",
    "register",
    "activation",
    "activate",
    "password",
    "language",
    "cancel",
    "devices",
    "pair",
    "unlink",
    "notifications",
    "security",
    "members",
}
DESK_COMMANDS = {"codes", "release", "refuse", "outbox", "announce"}
MANAGER_COMMANDS = {"pending", "approve", "reject", "employees", "offboard", "invite"}
EN = Texts(Language.EN)


def _listed(help_message: str) -> set[str]:
    """The commands a help message lists: its lines start with ``/name``."""
    return {line[1:].split(" ")[0] for line in help_message.splitlines() if line.startswith("/")}


@pytest.mark.parametrize(
    ("chat", "expected"),
    [
        (END_USER, USER_COMMANDS),
        (DemoOrg.staff_chat, USER_COMMANDS | DESK_COMMANDS),
        (DemoOrg.manager_chat, USER_COMMANDS | DESK_COMMANDS | MANAGER_COMMANDS),
    ],
)
async def test_help_lists_exactly_the_commands_the_caller_may_use(
    desk: DeskDriver, chat: int, expected: set[str]
) -> None:
    replies = [reply.text for reply in (await desk.send(chat, "/help")).replies]
    assert replies[0] == help_text(EN, Audience.EVERYONE)
    assert set().union(*map(_listed, replies)) == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, USER_COMMANDS | {"help"}),
        (Role.EMPLOYEE, USER_COMMANDS | {"help"}),
        (Role.STAFF, USER_COMMANDS | {"help"} | DESK_COMMANDS),
        (Role.MANAGER, USER_COMMANDS | {"help"} | DESK_COMMANDS | MANAGER_COMMANDS),
        (Role.ADMIN, USER_COMMANDS | {"help"} | DESK_COMMANDS | MANAGER_COMMANDS),
    ],
)
@pytest.mark.parametrize("language", list(Language))
def test_menu_lists_exactly_the_commands_the_role_may_use(
    language: Language, role: Role | None, expected: set[str]
) -> None:
    menu = command_menu(language, role)
    assert menu[0][0] == "start"  # the user's commands come first
    assert {name for name, _ in menu} == expected and len(menu) == len(expected)
    assert all(1 <= len(description) <= 256 for _, description in menu)


async def test_every_command_in_the_table_is_answered(desk: DeskDriver) -> None:
    refusals = {EN("staff_not_allowed"), EN("staff_release_not_allowed")}
    for command in COMMANDS:
        for chat in (DemoOrg.manager_chat, END_USER):
            reply = texts_of(await desk.send(chat, f"/{command.name}"))
            assert reply and EN("unknown_command") not in reply, (command.name, chat)
            refused = any(refusal in reply for refusal in refusals)
            staff_only = command.audience is not Audience.EVERYONE
            assert refused == (staff_only and chat == END_USER), (command.name, chat)
            await desk.send(chat, "/cancel")


async def test_an_unknown_command_gets_the_friendly_reply(desk: DeskDriver) -> None:
    assert texts_of(await desk.send(END_USER, "/frobnicate")) == EN("unknown_command")


async def test_a_manager_past_the_out_of_service_date_has_no_staff_help_or_commands(
    desk: DeskDriver,
) -> None:
    async with desk.store.transaction() as tx:
        manager = (
            await tx.session.scalars(select(Person).where(Person.name == "Marieke Manager"))
        ).one()
        manager.out_of_service_on = desk.clock.now().date()  # the status itself stays active
    replies = [reply.text for reply in (await desk.send(DemoOrg.manager_chat, "/help")).replies]
    assert replies == [help_text(EN, Audience.EVERYONE)]
    for command in DESK_COMMANDS | MANAGER_COMMANDS:
        reply = texts_of(await desk.send(DemoOrg.manager_chat, f"/{command} 1 reason"))
        assert reply in {EN("staff_not_allowed"), EN("staff_release_not_allowed")}, command


@pytest.mark.parametrize("state", sorted(SECRET_STEPS))
async def test_help_and_cancel_stay_commands_at_a_secret_step(
    desk: DeskDriver, state: ConversationState
) -> None:
    async with desk.store.transaction() as tx:
        conversation = await tx.conversations.load(END_USER, desk.clock.now())
        conversation.state = state
    help_reply = (await desk.send(END_USER, "/help")).replies[0].text
    assert help_reply == help_text(EN, Audience.EVERYONE)
    assert texts_of(await desk.send(END_USER, "/cancel")).startswith(EN("cancelled"))
