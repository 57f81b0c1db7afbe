"""The desk: routes each channel-neutral event to its flow inside one transaction."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from datetime import timedelta

from flows import (
    activation,
    approval,
    labels,
    linking,
    outbox_view,
    password,
    registration,
    release,
)
from flows.buttons import (
    Decide,
    Listing,
    Menu,
    MenuChoice,
    Offboard,
    Page,
    Release,
    Signed,
    decode,
    encode,
    verified,
)
from flows.domain import (
    RELEASING_ROLES,
    AccountStatus,
    ConversationState,
    Language,
    effective_status,
    may_decide_registrations,
)
from flows.events import Event, EventKind, Keyboard, Outcome, Reply
from flows.keys import KeyedHasher
from flows.ports import Clock, DeskObserver, NoObserver, Sealing, StepRecord, SystemClock
from flows.texts import Texts, parse_language
from flows.turn import DeskPolicy, Turn
from storage.uow import Store, Transaction

log = logging.getLogger("balie.desk")

STEPS = {**registration.STEPS, **activation.STEPS, **password.STEPS}
"""What handles free text (or a shared contact) at each step of a conversation."""

SECRET_STEPS = frozenset(
    {
        ConversationState.REGISTER_CODE,
        ConversationState.REDEEM_CODE,
        ConversationState.RESET_CODE,
        ConversationState.CHOOSE_PASSWORD,
    }
)
"""Steps that ask for a code or a password: what is typed there is the secret, and is
deleted from the chat; only the exact words in ``STILL_COMMANDS`` stay commands."""

STILL_COMMANDS = frozenset({"/cancel", "/help"})

REPEATERS = {
    **dict.fromkeys(registration.STEPS, registration.repeat_step),
    **dict.fromkeys(activation.STEPS, activation.repeat_step),
    **dict.fromkeys(password.STEPS, password.repeat_step),
}
"""What repeats a step's question (after a sticker, or when a channel reopens)."""


class Desk:
    """Turns an event into replies; state, domain changes and outbox rows commit together."""

    def __init__(
        self,
        store: Store,
        policy: DeskPolicy | None = None,
        clock: Clock | None = None,
        hasher: KeyedHasher | None = None,
        observer: DeskObserver | None = None,
        sealer: Sealing | None = None,
    ) -> None:
        """``sealer``: keeps each update's outcome, sealed, with its update id until the
        runtime reports it carried out (``handled_updates.answered``), so an update handled
        again after a crash between commit and send gets its answer repeated; without one a
        redelivery gets no answer."""
        self.store = store
        self.sealer = sealer
        self.policy = policy or DeskPolicy()
        self.clock = clock or SystemClock()
        self.hasher = hasher or KeyedHasher.ephemeral()
        self.observer = observer or NoObserver()
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, chat_id: int) -> asyncio.Lock:
        # In-process: two fast messages from one chat are handled in order. Across
        # processes the conversation row lock (or SQLite's write lock) does the same.
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self._chat_locks[chat_id] = lock
        return lock

    async def handle(self, event: Event) -> Outcome:
        lock = self._lock(event.chat_id)
        async with lock:
            started = time.perf_counter()
            step = _Step()
            try:
                outcome = await self._handle(event, step)
                # Both waits come after the commit: the store's locks are already released.
                if outcome.steady_timing:
                    elapsed = time.perf_counter() - started
                    steady = self.policy.steady_answer.total_seconds()
                    await asyncio.sleep(max(0.0, steady - elapsed))
                if outcome.wait_before_answer > 0:
                    await self.clock.sleep(outcome.wait_before_answer)
                self._observe(event, step, started)
                return outcome
            except Exception:
                step.outcome = "error"
                self._observe(event, step, started)
                # Never a traceback in the chat, and never the message text in the log:
                # it may hold a code or an address.
                log.exception("event %s in chat %s failed", event.kind.value, event.chat_id)
                language = parse_language(event.sender.language_code, self.policy.default_language)
                return Outcome([Reply(Texts(language)("internal_error"))])

    async def housekeeping(self, keep_updates: timedelta = timedelta(days=2)) -> None:
        """Forget old update ids; Telegram redelivers only within a day."""
        async with self.store.transaction() as tx:
            await tx.handled_updates.forget_before(self.clock.now() - keep_updates)
            # Every limit's window is at most an hour; a day of history is plenty.
            await tx.rate_events.forget_before(self.clock.now() - timedelta(days=1))

    def _observe(self, event: Event, step: _Step, started: float) -> None:
        self.observer.handled(
            StepRecord(
                event.update_id,
                event.chat_id,
                step.flow,
                step.state,
                step.outcome,
                time.perf_counter() - started,
            )
        )

    async def _handle(self, event: Event, step: _Step) -> Outcome:
        now = self.clock.now()
        async with self.store.transaction() as tx:
            conversation = await tx.conversations.load(event.chat_id, now)
            step.state = conversation.state.value
            if event.update_id is not None and not await tx.handled_updates.first_time(
                event.update_id, now
            ):
                step.outcome = "duplicate"
                return await self._repeated(tx, event.update_id)
            if conversation.language is None:
                conversation.language = parse_language(
                    event.sender.language_code, self.policy.default_language
                ).value
            turn = Turn(event, conversation, tx, self.policy, now, self.hasher)
            await route(turn)
            step.flow = flow_of(conversation.state, ConversationState(step.state), event)
            conversation.updated_at = now
            outcome = turn.outcome.fitted()
            if event.update_id is not None and self.sealer is not None:
                sealed = self.sealer.seal(outcome.kept())
                await tx.handled_updates.keep_outcome(event.update_id, sealed)
        return outcome

    async def _repeated(self, tx: Transaction, update_id: int) -> Outcome:
        """A redelivered update: nothing is done again in the store, but an outcome that
        may not have reached the chat (kept, not yet answered) is carried out again."""
        sealed = await tx.handled_updates.outcome(update_id)
        if sealed is None or self.sealer is None:
            log.info("update %s was already handled; ignoring the redelivery", update_id)
            return Outcome()
        try:
            kept = self.sealer.unseal(sealed)
        except Exception:
            log.error("the kept outcome of update %s cannot be opened; not repeated", update_id)
            return Outcome()
        log.info("update %s was handled but maybe not answered; repeating its answer", update_id)
        return Outcome.from_kept(kept)


class _Step:
    """What the observer hears of one update, filled in as it is handled."""

    def __init__(self) -> None:
        self.state = ""
        self.flow = "menu"
        self.outcome = "ok"


FLOWS = {
    **dict.fromkeys(registration.STEPS, "registration"),
    **dict.fromkeys(activation.STEPS, "activation"),
    **dict.fromkeys(password.STEPS, "password"),
}

STAFF_COMMANDS = frozenset(
    {"pending", "approve", "reject", "employees", "offboard", "codes", "release", "refuse"}
)


def flow_of(after: ConversationState, before: ConversationState, event: Event) -> str:
    """The flow an update belonged to, for metrics and logs."""
    if event.kind is EventKind.COMMAND and event.command in STAFF_COMMANDS:
        return "staff"
    if event.kind is EventKind.BUTTON and (event.button_data or "")[:2] in {"d:", "c:", "o:"}:
        return "staff"
    return FLOWS.get(before) or FLOWS.get(after) or "menu"


def main_menu(turn: Turn) -> Keyboard:
    return (
        (turn.button("button_register", encode(Menu(MenuChoice.REGISTER))),),
        (turn.button("button_forgot_password", encode(Menu(MenuChoice.FORGOT_PASSWORD))),),
        (turn.button("button_activation_code", encode(Menu(MenuChoice.ACTIVATION_CODE))),),
        (turn.button("button_help", encode(Menu(MenuChoice.HELP))),),
    )


def language_menu() -> Keyboard:
    from flows.events import Button

    return (
        (
            Button("Nederlands", encode(Menu(MenuChoice.LANGUAGE_NL))),
            Button("English", encode(Menu(MenuChoice.LANGUAGE_EN))),
        ),
    )


async def route(turn: Turn) -> None:
    event = turn.event
    if not event.is_private_chat:
        # Codes, addresses and decisions are personal: never in a group chat.
        if event.kind in {EventKind.COMMAND, EventKind.BUTTON}:
            turn.outcome.callback_notice = turn.texts("private_only")
            turn.say("private_only")
        return
    if (
        event.kind is EventKind.COMMAND
        and turn.state in SECRET_STEPS
        and event.typed  # typed by the person, not a channel's own /resume
        and event.typed.lower() not in STILL_COMMANDS
    ):
        # A password such as "/Zomer2026!" is a password, not an unknown command.
        turn.event = event = event.as_typed_text()
    if event.kind is EventKind.COMMAND:
        await on_command(turn, event.command or "")
    elif event.kind is EventKind.BUTTON:
        await on_button(turn)
    elif turn.state in STEPS:
        if event.kind is EventKind.UNSUPPORTED:
            turn.say("unsupported_content")
            await REPEATERS[turn.state](turn)
        else:
            await STEPS[turn.state](turn)
    else:
        if event.kind is EventKind.UNSUPPORTED:
            turn.say("unsupported_content")
        turn.say("choose_a_button", main_menu(turn))


async def on_command(turn: Turn, command: str) -> None:
    if command == "start":
        await registration.discard_draft(turn)
        turn.move(ConversationState.IDLE)
        await welcome(turn)
    elif command == "resume":
        await resume(turn)
    elif command == "help":
        await show_help(turn)
    elif command == "cancel":
        await cancel(turn)
    elif command == "language":
        choice = turn.event.text.strip().lower()
        if choice in {language.value for language in Language}:
            await set_language(turn, Language(choice))
        else:
            turn.say("language_choose", language_menu())
    elif command == "register":
        await registration.begin(turn)
    elif command == "password":
        await password.begin_reset(turn)
    elif command == "activate":
        await activation.begin_redeem(turn)
    elif command == "activation":
        await activation.begin_request(turn)
    elif command == "codes":
        await release.list_codes(turn)
    elif command in {"release", "refuse"}:
        await release.decide_by_command(turn, release=command == "release")
    elif command == "pending":
        await approval.list_pending(turn)
    elif command in {"approve", "reject"}:
        await approval.decide_by_command(turn, approve=command == "approve")
    elif command == "employees":
        await approval.list_employees(turn)
    elif command == "offboard":
        await approval.offboard(turn)
    elif command == "outbox":
        await outbox_view.show(turn)
    else:
        turn.say("unknown_command")


async def on_button(turn: Turn) -> None:
    undo = linking.decode_undo(turn.event.button_data)
    if undo is not None:
        await linking.undo(turn, *undo)
        return
    pressed = decode(turn.event.button_data)
    if isinstance(pressed, Signed):
        await _staff_button(turn, pressed)
        return
    if isinstance(pressed, Page):
        await _page_button(turn, pressed)
        return
    if pressed is None or not await _menu_choice(turn, pressed):
        turn.outcome.callback_notice = turn.texts("stale_button")
        turn.outcome.clear_pressed_buttons = True
        turn.say("stale_button")


async def _staff_button(turn: Turn, pressed: Signed) -> None:
    """A decision button acts only if its data is what the desk signed for this chat."""
    if not verified(turn.hasher, pressed, turn.event.chat_id):
        await _tampered_button(turn)
        return
    action = pressed.action
    if isinstance(action, Decide):
        await approval.decide_by_button(turn, action)
    elif isinstance(action, Release):
        await release.decide_by_button(turn, action)
    elif isinstance(action, Offboard):
        await approval.offboard_by_button(turn, action)


async def _page_button(turn: Turn, pressed: Page) -> None:
    """Previous or Next on a staff list: the page, as a new message, for a caller who may
    still see the list (each list checks); the pressed page loses its buttons."""
    if pressed.listing is Listing.EMPLOYEES:
        await approval.list_employees(turn, pressed.number)
    elif pressed.listing is Listing.PENDING:
        await approval.list_pending(turn, pressed.number)
    else:
        await release.show_codes_page(turn, pressed.listing, pressed.number)
    turn.outcome.clear_pressed_buttons = True


async def _tampered_button(turn: Turn) -> None:
    """Changed, copied or unsigned decision data: nothing happens, and the toast is the one
    any outdated button gets, so it tells a prober nothing about the request it names."""
    caller = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
    await turn.audit(
        "tampered_button",
        organization_id=caller.organization_id if caller else None,
        actor_person_id=caller.id if caller else None,
        data=(turn.event.button_data or "")[:64],
        chat_id=turn.event.chat_id,
    )
    turn.outcome.callback_notice = turn.texts("stale_button")


async def _menu_choice(turn: Turn, action: Menu) -> bool:
    """Carry out a menu button; False when it does not fit where the conversation is."""
    choice = action.choice
    in_code_step = turn.state is ConversationState.REGISTER_CODE
    if choice is MenuChoice.REGISTER:
        await registration.begin(turn)
    elif choice is MenuChoice.HELP:
        await show_help(turn)
    elif choice is MenuChoice.FORGOT_PASSWORD:
        await password.begin_reset(turn)
    elif choice is MenuChoice.ACTIVATION_CODE:
        activation.menu(turn)
    elif choice is MenuChoice.REQUEST_CODE:
        await activation.begin_request(turn)
    elif choice is MenuChoice.HAVE_CODE:
        await activation.begin_redeem(turn)
    elif choice is MenuChoice.SKIP and turn.state is ConversationState.ACTIVATION_EMAIL:
        await activation.skip_email(turn)
    elif choice is MenuChoice.CANCEL:
        await cancel(turn)
    elif choice is MenuChoice.LANGUAGE_NL:
        await set_language(turn, Language.NL)
    elif choice is MenuChoice.LANGUAGE_EN:
        await set_language(turn, Language.EN)
    elif choice is MenuChoice.RESEND_CODE and in_code_step:
        await registration.resend(turn)
    elif choice is MenuChoice.CHANGE_CONTACT and in_code_step:
        await registration.change_contact(turn)
    else:
        return False
    turn.outcome.clear_pressed_buttons = True
    return True


async def welcome(turn: Turn) -> None:
    person = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
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
    if person.role in RELEASING_ROLES and status is AccountStatus.ACTIVE:
        turn.say("welcome_staff_hint")
    else:
        turn.say("welcome", main_menu(turn))


async def resume(turn: Turn) -> None:
    """A channel (re)opened: repeat the step the conversation is at, or welcome."""
    if turn.state in REPEATERS:
        await REPEATERS[turn.state](turn)
    else:
        await welcome(turn)


async def show_help(turn: Turn) -> None:
    turn.say("help")
    person = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
    if person is None or person.status is not AccountStatus.ACTIVE:
        return
    if person.role in RELEASING_ROLES:
        turn.say("help_staff")
    if may_decide_registrations(person.role, person.status):
        turn.say("help_managers")


async def cancel(turn: Turn) -> None:
    if turn.state is ConversationState.IDLE:
        turn.say("nothing_to_cancel", main_menu(turn))
        return
    await registration.discard_draft(turn)
    turn.move(ConversationState.IDLE)
    turn.say("cancelled", main_menu(turn))


async def set_language(turn: Turn, language: Language) -> None:
    """The chat's language, and the linked account's, so notifications follow it."""
    turn.conversation.language = language.value
    person = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
    if person is not None:
        person.language = language.value
    turn.say("language_set")
