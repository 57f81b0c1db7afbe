"""The command table (flows.commands): help texts and Telegram menus are made from it."""

from __future__ import annotations

import pytest

from flows import commands
from flows.buttons import MenuChoice
from flows.commands import BY_NAME, COMMANDS, MENU_CHOICES, Audience, command_menu, help_text
from flows.domain import ConversationState, Language, Role
from flows.texts import Texts


def test_command_names_are_unique_and_telegram_safe() -> None:
    names = [command.name for command in COMMANDS]
    assert len(names) == len(set(names)) == len(BY_NAME)
    assert all(name.isascii() and name.replace("_", "").isalnum() for name in names)
    assert all(name == name.lower() for name in names)


@pytest.mark.parametrize("language", list(Language))
def test_help_has_a_line_per_listed_command_of_the_audience(language: Language) -> None:
    texts = Texts(language)
    for audience in Audience:
        listed = [c for c in COMMANDS if c.audience is audience and c.help is not None]
        lines = help_text(texts, audience).splitlines()
        assert lines[0] == texts(audience.heading)
        assert len(lines) == 1 + len(listed)


def test_each_role_sees_its_own_menu_after_the_users() -> None:
    user = [name for name, _ in command_menu(Language.EN)]
    staff = [name for name, _ in command_menu(Language.EN, Role.STAFF)]
    manager = [name for name, _ in command_menu(Language.EN, Role.MANAGER)]
    assert staff[: len(user)] == user and manager[: len(staff)] == staff
    assert len(user) < len(staff) < len(manager)
    assert all(BY_NAME[name].audience.includes(Role.STAFF) for name in staff)


def test_staff_commands_are_the_ones_for_an_audience_with_a_power() -> None:
    expected = {c.name for c in COMMANDS if c.audience.power is not None}
    assert expected == commands.STAFF_COMMANDS


def test_every_menu_choice_has_a_handler_and_step_bound_ones_name_their_step() -> None:
    assert set(MENU_CHOICES) == set(MenuChoice)
    assert MENU_CHOICES[MenuChoice.RESEND_CODE].only_at is ConversationState.REGISTER_CODE
    assert MENU_CHOICES[MenuChoice.REGISTER].only_at is None
