"""The desk's own answers, outside any flow: welcome, the main menu, cancel, the language."""

from __future__ import annotations

from flows import (
    activation,
    announce_flow,
    devices,
    invitation_flow,
    labels,
    member_flow,
    members,
    password_flow,
    registration,
    step_up,
    two_step,
)
from flows.buttons import Menu, MenuChoice, encode
from flows.decisions import Power, caller, may_act
from flows.domain import AccountStatus, ConversationState, Language, effective_status
from flows.events import Button, Keyboard
from flows.turn import Turn

REPEATERS = {
    **dict.fromkeys(registration.STEPS, registration.repeat_step),
    **dict.fromkeys(activation.STEPS, activation.repeat_step),
    **dict.fromkeys(password_flow.STEPS, password_flow.repeat_step),
    **dict.fromkeys(announce_flow.STEPS, announce_flow.repeat_step),
    **dict.fromkeys(two_step.STEPS, two_step.repeat_step),
    ConversationState.SECOND_FACTOR: step_up.repeat_step,
    **dict.fromkeys(member_flow.STEPS, member_flow.repeat_step),
}
"""What repeats a step's question (after a sticker, or when a channel reopens)."""


def main_menu(turn: Turn) -> Keyboard:
    return (
        (turn.button("button_register", encode(Menu(MenuChoice.REGISTER))),),
        (turn.button("button_forgot_password", encode(Menu(MenuChoice.FORGOT_PASSWORD))),),
        (turn.button("button_activation_code", encode(Menu(MenuChoice.ACTIVATION_CODE))),),
        (turn.button("button_help", encode(Menu(MenuChoice.HELP))),),
    )


def language_menu() -> Keyboard:
    return (
        (
            Button("Nederlands", encode(Menu(MenuChoice.LANGUAGE_NL))),
            Button("English", encode(Menu(MenuChoice.LANGUAGE_EN))),
        ),
    )


async def start(turn: Turn) -> None:
    """``/start``: whatever was going on is dropped; the welcome. ``/start <token>`` (a
    deep link's payload) opens an invitation, ``/start pair_<token>`` a linked device's
    pairing link; one that opens nothing gets the neutral reply and the welcome."""
    await registration.leave(turn)
    turn.move(ConversationState.IDLE)
    token = turn.event.text.strip()
    if token.startswith(devices.PAYLOAD_PREFIX):
        if await devices.open_pairing(turn, token.removeprefix(devices.PAYLOAD_PREFIX)):
            return
    elif (member_token := members.token_of(token)) is not None:
        if await member_flow.open_invitation(turn, member_token):
            return
    elif token and await invitation_flow.open_invitation(turn, token):
        return
    await welcome(turn)


async def welcome(turn: Turn) -> None:
    person = await caller(turn)
    if person is None:
        turn.say("welcome", main_menu(turn))
        return
    texts = turn.texts
    organization = person.organization
    status = effective_status(person.status, person.out_of_service_on, turn.now.date())
    if status is AccountStatus.OUT_OF_SERVICE and person.out_of_service_on:
        turn.say(
            "welcome_out_of_service",
            name=person.name,
            org=organization.name,
            date=texts.day(person.out_of_service_on),
        )
        return
    turn.say(
        "welcome_linked",
        name=person.name,
        org=organization.name,
        role=texts(labels.ROLE[person.role]),
    )
    if may_act(person, Power.RELEASE, turn.now.date()):
        turn.say("welcome_staff_hint")
    else:
        turn.say("welcome", main_menu(turn))


async def resume(turn: Turn) -> None:
    """A channel (re)opened: repeat the step the conversation is at, or welcome."""
    if turn.state in REPEATERS:
        await REPEATERS[turn.state](turn)
    else:
        await welcome(turn)


async def cancel(turn: Turn) -> None:
    if turn.state is ConversationState.IDLE:
        turn.say("nothing_to_cancel", main_menu(turn))
        return
    await start_over(turn)


async def start_over(turn: Turn) -> None:
    """What /cancel does: the step ends, its draft's codes go, the menu comes back. Also the
    answer to a step whose kept data no longer fits it."""
    await registration.leave(turn)
    turn.move(ConversationState.IDLE)
    turn.say("cancelled", main_menu(turn))


async def choose_language(turn: Turn) -> None:
    """``/language nl``, or ``/language`` alone for the two buttons."""
    choice = turn.event.text.strip().lower()
    if choice in {language.value for language in Language}:
        await set_language(turn, Language(choice))
    else:
        turn.say("language_choose", language_menu())


async def set_language(turn: Turn, language: Language) -> None:
    """The chat's language, and the linked account's, so notifications follow it."""
    turn.conversation.language = language.value
    person = await caller(turn)
    if person is not None:
        person.language = language.value
    turn.say("language_set")
