"""The bot's command menus (Telegram's setMyCommands), in Dutch and English.

End users see :data:`USER_COMMANDS`; desk staff see :data:`DESK_COMMANDS` after them, and
managers (who decide registrations) :data:`MANAGER_COMMANDS` too. Every command listed
here is one the desk answers (``flows.desk.on_command``); a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.domain import DECIDING_ROLES, RELEASING_ROLES, Language, Role


@dataclass(frozen=True)
class Command:
    name: str
    """Lower-case, without the slash (Telegram allows a-z, 0-9 and _)."""
    description: dict[Language, str]


USER_COMMANDS: tuple[Command, ...] = (
    Command(
        "start",
        {
            Language.NL: "Opnieuw beginnen en kiezen wat u wilt doen",
            Language.EN: "Start over and choose what to do",
        },
    ),
    Command(
        "register",
        {
            Language.NL: "Registreren als medewerker van een kantoor",
            Language.EN: "Register as an employee of an office",
        },
    ),
    Command(
        "activation",
        {
            Language.NL: "Activatiecode aanvragen voor het klantportaal",
            Language.EN: "Request an activation code for the customer portal",
        },
    ),
    Command(
        "activate",
        {
            Language.NL: "Account activeren met uw activatiecode",
            Language.EN: "Activate your account with your activation code",
        },
    ),
    Command(
        "password",
        {Language.NL: "Wachtwoord vergeten", Language.EN: "Forgot your password"},
    ),
    Command(
        "language",
        {Language.NL: "Nederlands of English kiezen", Language.EN: "Choose Nederlands or English"},
    ),
    Command(
        "cancel",
        {Language.NL: "Stoppen waar u mee bezig bent", Language.EN: "Stop what you are doing"},
    ),
    Command("help", {Language.NL: "Uitleg over de balie", Language.EN: "How the desk works"}),
)

DESK_COMMANDS: tuple[Command, ...] = (
    Command(
        "codes",
        {
            Language.NL: "Activatiecodes die wachten op vrijgave",
            Language.EN: "Activation codes waiting for release",
        },
    ),
    Command(
        "release",
        {
            Language.NL: "Activatiecode vrijgeven: /release N",
            Language.EN: "Release an activation code: /release N",
        },
    ),
    Command(
        "refuse",
        {
            Language.NL: "Activatiecode weigeren: /refuse N reden",
            Language.EN: "Refuse an activation code: /refuse N reason",
        },
    ),
    Command(
        "outbox",
        {
            Language.NL: "Berichtenwachtrij en wat niet aankwam",
            Language.EN: "Notification queue and what did not arrive",
        },
    ),
)

MANAGER_COMMANDS: tuple[Command, ...] = (
    Command(
        "pending", {Language.NL: "Openstaande registraties", Language.EN: "Open registrations"}
    ),
    Command(
        "approve",
        {
            Language.NL: "Aanvraag goedkeuren: /approve N",
            Language.EN: "Approve a request: /approve N",
        },
    ),
    Command(
        "reject",
        {
            Language.NL: "Aanvraag afwijzen: /reject N reden",
            Language.EN: "Reject a request: /reject N reason",
        },
    ),
    Command(
        "employees",
        {Language.NL: "Medewerkers en hun status", Language.EN: "Employees and their status"},
    ),
    Command(
        "offboard",
        {
            Language.NL: "Uit dienst zetten: /offboard e-mail|nummer JJJJ-MM-DD",
            Language.EN: "Take out of service: /offboard email|number YYYY-MM-DD",
        },
    ),
)


ALL_COMMANDS = USER_COMMANDS + DESK_COMMANDS + MANAGER_COMMANDS


def command_menu(language: Language, role: Role | None = None) -> list[tuple[str, str]]:
    """``(command, description)`` pairs in menu order for someone with ``role`` (None: an
    end user); staff see theirs after the user's."""
    commands = USER_COMMANDS
    if role in RELEASING_ROLES:
        commands += DESK_COMMANDS
    if role in DECIDING_ROLES:
        commands += MANAGER_COMMANDS
    return [(command.name, command.description[language]) for command in commands]
