"""Every command and menu button the desk answers, in one table each.

A command's row says what answers it, who may use it, and its lines in Telegram's command
menu (setMyCommands) and in ``/help``; the desk dispatches by looking the command up, and
the help and the menus per role are made from the same rows, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from flows import (
    activation,
    announce_flow,
    approval,
    devices,
    invitation_flow,
    member_flow,
    menu,
    notification_prefs,
    outbox_view,
    password_flow,
    registration,
    release,
    step_up,
    two_step,
)
from flows.buttons import Menu, MenuChoice
from flows.decisions import Power, acting, caller, may_act, refuse
from flows.domain import ConversationState, Language, Role
from flows.texts import Texts
from flows.turn import Turn

Handler = Callable[[Turn], Awaitable[None]]


class Audience(Enum):
    """Who may use a command: everyone, or whoever has a staff power (which needs the
    account's role and its effective status active, see ``decisions.may_act``)."""

    EVERYONE = ("help_heading", None)
    DESK = ("help_staff_heading", Power.RELEASE)
    MANAGERS = ("help_managers_heading", Power.DECIDE)

    @property
    def heading(self) -> str:
        """The message id that heads this audience's part of ``/help``."""
        return str(self.value[0])

    @property
    def power(self) -> Power | None:
        power = self.value[1]
        return power if isinstance(power, Power) else None

    def includes(self, role: Role | None) -> bool:
        """Whether someone with ``role`` (None: an end user) sees these commands."""
        return self.power is None or role in self.power.roles


@dataclass(frozen=True)
class Command:
    name: str
    """Lower-case, without the slash (Telegram allows a-z, 0-9 and _)."""
    handler: Handler
    audience: Audience
    menu: str | None
    """The message id of its description in Telegram's command menu; None: in no menu."""
    help: str | None
    """The message id of its line in ``/help``; None: not listed there."""
    at_secret_steps: bool = False
    """Still a command where a code or password is typed (see ``desk.SECRET_STEPS``)."""


async def _activation_menu(turn: Turn) -> None:
    activation.menu(turn)


async def show_help(turn: Turn) -> None:
    """``/help``: the part of the table the caller may use, one message per audience."""
    person = await caller(turn)
    for audience in Audience:
        power = audience.power
        if power is None or (person is not None and may_act(person, power, turn.now.date())):
            turn.say_text(help_text(turn.texts, audience))


COMMANDS: tuple[Command, ...] = (
    Command("start", menu.start, Audience.EVERYONE, "command_start_menu", "command_start_help"),
    Command(
        "register",
        registration.begin,
        Audience.EVERYONE,
        "command_register_menu",
        "command_register_help",
    ),
    Command(
        "activation",
        activation.begin_request,
        Audience.EVERYONE,
        "command_activation_menu",
        "command_activation_help",
    ),
    Command(
        "activate",
        activation.begin_redeem,
        Audience.EVERYONE,
        "command_activate_menu",
        "command_activate_help",
    ),
    Command(
        "password",
        password_flow.begin_reset,
        Audience.EVERYONE,
        "command_password_menu",
        "command_password_help",
    ),
    Command(
        "language",
        menu.choose_language,
        Audience.EVERYONE,
        "command_language_menu",
        "command_language_help",
    ),
    Command(
        "notifications",
        notification_prefs.show,
        Audience.EVERYONE,
        "command_notifications_menu",
        "command_notifications_help",
    ),
    Command(
        "cancel",
        menu.cancel,
        Audience.EVERYONE,
        "command_cancel_menu",
        "command_cancel_help",
        at_secret_steps=True,
    ),
    Command(
        "security",
        two_step.show,
        Audience.EVERYONE,
        "command_security_menu",
        "command_security_help",
    ),
    Command(
        "members",
        member_flow.show,
        Audience.EVERYONE,
        "command_members_menu",
        "command_members_help",
    ),
    Command("help", show_help, Audience.EVERYONE, "command_help_menu", None, at_secret_steps=True),
    # linked devices (issue 13); /devices NAME|NUMBER is desk staff's, checked in the flow
    Command(
        "devices", devices.show, Audience.EVERYONE, "command_devices_menu", "command_devices_help"
    ),
    Command("pair", devices.pair, Audience.EVERYONE, "command_pair_menu", "command_pair_help"),
    Command(
        "unlink",
        devices.ask_unlink,
        Audience.EVERYONE,
        "command_unlink_menu",
        "command_unlink_help",
    ),
    Command("codes", release.list_codes, Audience.DESK, "command_codes_menu", "command_codes_help"),
    Command(
        "release",
        lambda turn: release.decide_by_command(turn, release=True),
        Audience.DESK,
        "command_release_menu",
        "command_release_help",
    ),
    Command(
        "refuse",
        lambda turn: release.decide_by_command(turn, release=False),
        Audience.DESK,
        "command_refuse_menu",
        "command_refuse_help",
    ),
    Command(
        "outbox", outbox_view.show, Audience.DESK, "command_outbox_menu", "command_outbox_help"
    ),
    Command(
        "announce",
        announce_flow.begin,
        Audience.DESK,
        "command_announce_menu",
        "command_announce_help",
    ),
    Command(
        "pending",
        approval.list_pending,
        Audience.MANAGERS,
        "command_pending_menu",
        "command_pending_help",
    ),
    Command(
        "approve",
        lambda turn: approval.decide_by_command(turn, approve=True),
        Audience.MANAGERS,
        "command_approve_menu",
        "command_approve_help",
    ),
    Command(
        "reject",
        lambda turn: approval.decide_by_command(turn, approve=False),
        Audience.MANAGERS,
        "command_reject_menu",
        "command_reject_help",
    ),
    Command(
        "employees",
        approval.list_employees,
        Audience.MANAGERS,
        "command_employees_menu",
        "command_employees_help",
    ),
    Command(
        "invite",
        invitation_flow.invite,
        Audience.MANAGERS,
        "command_invite_menu",
        "command_invite_help",
    ),
    Command(
        "offboard",
        approval.offboard,
        Audience.MANAGERS,
        "command_offboard_menu",
        "command_offboard_help",
    ),
    # A channel's own command, sent when it (re)opens a conversation: in no menu or help.
    Command("resume", menu.resume, Audience.EVERYONE, None, None),
)

BY_NAME = {command.name: command for command in COMMANDS}

STILL_COMMANDS = frozenset(f"/{command.name}" for command in COMMANDS if command.at_secret_steps)
"""The exact words that stay commands at a secret step."""

STAFF_COMMANDS = frozenset(
    command.name for command in COMMANDS if command.audience is not Audience.EVERYONE
)


def help_text(texts: Texts, audience: Audience) -> str:
    """``audience``'s part of ``/help``: its heading, then a line per command."""
    lines = [texts(c.help) for c in COMMANDS if c.audience is audience and c.help is not None]
    return "\n".join([texts(audience.heading), *lines])


def command_menu(language: Language, role: Role | None = None) -> list[tuple[str, str]]:
    """``(command, description)`` pairs in menu order for someone with ``role`` (None: an
    end user); staff see theirs after the user's."""
    texts = Texts(language)
    return [
        (command.name, texts(command.menu))
        for audience in Audience
        if audience.includes(role)
        for command in COMMANDS
        if command.audience is audience and command.menu is not None
    ]


async def answer_command(turn: Turn, name: str) -> None:
    """Look the command up, check that the caller may use it, and let its handler answer."""
    command = BY_NAME.get(name)
    if command is None:
        turn.say("unknown_command")
        return
    power = command.audience.power
    if power is not None:
        person = await acting(turn, power)
        if person is None:
            await refuse(turn, power, command.name)
            return
        staff_data = {"command": command.name, "text": turn.event.text}
        if not await step_up.staff_gate(turn, person, staff_data):
            return
    await command.handler(turn)


@dataclass(frozen=True)
class Choice:
    """What a menu button does, and the one step it belongs to (None: anywhere)."""

    handler: Handler
    only_at: ConversationState | None = None


MENU_CHOICES: dict[MenuChoice, Choice] = {
    MenuChoice.REGISTER: Choice(registration.begin),
    MenuChoice.HELP: Choice(show_help),
    MenuChoice.FORGOT_PASSWORD: Choice(password_flow.begin_reset),
    MenuChoice.ACTIVATION_CODE: Choice(_activation_menu),
    MenuChoice.REQUEST_CODE: Choice(activation.begin_request),
    MenuChoice.HAVE_CODE: Choice(activation.begin_redeem),
    MenuChoice.SKIP: Choice(activation.skip_email, ConversationState.ACTIVATION_EMAIL),
    MenuChoice.CANCEL: Choice(menu.cancel),
    MenuChoice.LANGUAGE_NL: Choice(lambda turn: menu.set_language(turn, Language.NL)),
    MenuChoice.LANGUAGE_EN: Choice(lambda turn: menu.set_language(turn, Language.EN)),
    MenuChoice.RESEND_CODE: Choice(registration.resend, ConversationState.REGISTER_CODE),
    MenuChoice.CHANGE_CONTACT: Choice(registration.change_contact, ConversationState.REGISTER_CODE),
}


async def choose(turn: Turn, action: Menu) -> bool:
    """Carry out a menu button; False when it does not fit where the conversation is."""
    choice = MENU_CHOICES.get(action.choice)
    if choice is None or choice.only_at not in {None, turn.state}:
        return False
    await choice.handler(turn)
    turn.outcome.clear_pressed_buttons = True
    return True
