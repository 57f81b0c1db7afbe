"""The desk: routes each channel-neutral event to its flow inside one transaction."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta

from flows import (
    activation,
    announce_flow,
    approval,
    commands,
    devices,
    linking,
    member_flow,
    menu,
    notification_prefs,
    password_flow,
    registration,
    release,
    step_up,
    step_up_flow,
    two_step,
)
from flows.builtin_directory import BuiltinDirectories
from flows.buttons import (
    Decide,
    Listing,
    Offboard,
    Page,
    Release,
    Security,
    Signed,
    decode,
    verified,
)
from flows.directory import (
    Directories,
    DirectoryError,
    NeedsOutsideWork,
    PasswordChange,
    PasswordChanged,
)
from flows.domain import AuditAction, ConversationState
from flows.events import Event, EventKind, Outcome, Reply
from flows.flow_data import StaleFlowData
from flows.keys import KeyedHasher
from flows.ports import (
    Clock,
    DeepLinks,
    DeskObserver,
    NoObserver,
    Sealing,
    StepRecord,
    SystemClock,
    TypedStart,
)
from flows.store import Store, Transaction
from flows.texts import Texts, parse_language
from flows.turn import DeskPolicy, Turn

log = logging.getLogger("balie.desk")

SWEEP_BATCH = 5_000
"""Rows one housekeeping transaction deletes at most."""

STEPS = {
    **registration.STEPS,
    **activation.STEPS,
    **password_flow.STEPS,
    **announce_flow.STEPS,
    **two_step.STEPS,
    **step_up_flow.STEPS,
    **member_flow.STEPS,
}
"""What handles free text (or a shared contact) at each step of a conversation."""

SECRET_STEPS = frozenset(
    {
        ConversationState.REGISTER_CODE,
        ConversationState.REDEEM_CODE,
        ConversationState.RESET_CODE,
        ConversationState.CHOOSE_PASSWORD,
        ConversationState.TWO_STEP_CONFIRM,
        ConversationState.TWO_STEP_RECOVERY_CONFIRM,
        ConversationState.SECOND_FACTOR,
    }
)
"""Steps that ask for a code or a password: what is typed there is the secret, and is
deleted from the chat; only the exact words in ``commands.STILL_COMMANDS`` (/cancel and
/help) stay commands."""


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
        directories: Directories | None = None,
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
        self.directories = directories or BuiltinDirectories()
        self.links: DeepLinks = TypedStart()
        """How invitations link to the bot; a Telegram runtime sets it from ``getMe``."""
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

    async def housekeeping(
        self, keep_updates: timedelta = timedelta(days=2), *, batch: int = SWEEP_BATCH
    ) -> None:
        """Forget old update ids (Telegram redelivers only within a day) and old rate events
        (every limit's window is at most an hour; a day of history is plenty), ``batch`` rows
        per transaction until none is left: a sweep over a million rows never holds the
        write lock for long, so the chats' steps keep going in between."""
        if batch < 1:
            raise ValueError("a sweep's batch is at least one row")
        now = self.clock.now()
        sweeps: tuple[Callable[[Transaction], Awaitable[int]], ...] = (
            lambda tx: tx.handled_updates.forget_before(now - keep_updates, batch),
            lambda tx: tx.rate_events.forget_before(now - timedelta(days=1), batch),
        )
        for forget in sweeps:
            forgotten = batch
            while forgotten >= batch:
                async with self.store.transaction() as tx:
                    forgotten = await forget(tx)

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
        """The step in one transaction; a step that needs slow work done (a password set in
        the directory) is rolled back, the work done outside, and the step run again."""
        done: dict[PasswordChange, PasswordChanged] = {}
        while True:
            try:
                return await self._step(event, step, done)
            except NeedsOutsideWork as need:
                if need.work in done:
                    raise RuntimeError("a step asked twice for the same work") from None
                done[need.work] = await self._outside(need.work)

    async def _outside(self, work: PasswordChange) -> PasswordChanged:
        try:
            async with asyncio.timeout(self.policy.directory_timeout.total_seconds()):
                hashed = await self.directories.change_password(work)
        except (DirectoryError, TimeoutError) as exc:
            return PasswordChanged(error=exc)
        return PasswordChanged(password_hash=hashed)

    async def _step(
        self, event: Event, step: _Step, done: dict[PasswordChange, PasswordChanged]
    ) -> Outcome:
        now = self.clock.now()
        async with self.store.transaction() as tx:
            conversation = await tx.conversations.load(event.chat_id, now)
            step.state = conversation.state.value
            if event.update_id is not None and await tx.handled_updates.seen(event.update_id):
                step.outcome = "duplicate"
                return await self._repeated(tx, event.update_id)
            if conversation.language is None:
                conversation.language = parse_language(
                    event.sender.language_code, self.policy.default_language
                ).value
            turn = Turn(
                event,
                conversation,
                tx,
                self.policy,
                now,
                self.hasher,
                directories=self.directories,
                links=self.links,
                done=done,
            )
            await route(turn)
            step.flow = flow_of(conversation.state, ConversationState(step.state), event)
            conversation.updated_at = now
            outcome = turn.outcome.fitted()
            if event.update_id is not None:
                sealed = self.sealer.seal(outcome.kept()) if self.sealer is not None else None
                await tx.handled_updates.record(event.update_id, now, sealed)
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
    **dict.fromkeys(password_flow.STEPS, "password"),
    **dict.fromkeys(announce_flow.STEPS, "staff"),
    **dict.fromkeys(two_step.STEPS, "two_step"),
    **dict.fromkeys(step_up_flow.STEPS, "two_step"),
    **dict.fromkeys(member_flow.STEPS, "members"),
}


def flow_of(after: ConversationState, before: ConversationState, event: Event) -> str:
    """The flow an update belonged to, for metrics and logs."""
    if event.kind is EventKind.COMMAND and event.command in commands.STAFF_COMMANDS:
        return "staff"
    if event.kind is EventKind.BUTTON and (event.button_data or "")[:2] in {
        "d:",
        "c:",
        "o:",
        announce_flow.PREFIX,
    }:
        return "staff"
    return FLOWS.get(before) or FLOWS.get(after) or "menu"


async def route(turn: Turn) -> None:
    try:
        await _route(turn)
    except StaleFlowData:
        # Kept by an older Balie, or damaged: the step cannot go on, so it starts over.
        log.warning("chat %s: the data of step %s does not fit", turn.event.chat_id, turn.state)
        await menu.start_over(turn)


async def _route(turn: Turn) -> None:
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
        and event.typed.lower() not in commands.STILL_COMMANDS
    ):
        # A password such as "/Zomer2026!" is a password, not an unknown command.
        turn.event = event = event.as_typed_text()
    if event.kind is EventKind.COMMAND:
        await commands.answer_command(turn, event.command or "")
    elif event.kind is EventKind.BUTTON:
        await on_button(turn)
    elif turn.state in STEPS:
        if event.kind is EventKind.UNSUPPORTED:
            turn.say("unsupported_content")
            await menu.REPEATERS[turn.state](turn)
        else:
            await STEPS[turn.state](turn)
    else:
        if event.kind is EventKind.UNSUPPORTED:
            turn.say("unsupported_content")
        turn.say("choose_a_button", menu.main_menu(turn))


async def on_button(turn: Turn) -> None:
    unlink = devices.decode_unlink(turn.event.button_data)
    if unlink is not None:
        await devices.press_unlink(turn, *unlink)
        return
    undo = linking.decode_undo(turn.event.button_data)
    if undo is not None:
        await linking.undo(turn, *undo)
        return
    announcing = announce_flow.decode(turn.event.button_data)
    if announcing is not None:
        await announce_flow.on_button(turn, announcing)
        return
    if notification_prefs.is_preference_button(turn.event.button_data):
        await notification_prefs.on_button(turn)
        return
    if member_flow.is_member_button(turn.event.button_data):
        await member_flow.on_button(turn)
        return
    pressed = decode(turn.event.button_data)
    if isinstance(pressed, Signed):
        await _staff_button(turn, pressed)
        return
    if isinstance(pressed, Page):
        await _page_button(turn, pressed)
        return
    if pressed is None or not await commands.choose(turn, pressed):
        turn.outcome.callback_notice = turn.texts("stale_button")
        turn.outcome.clear_pressed_buttons = True
        turn.say("stale_button")


async def _staff_button(turn: Turn, pressed: Signed) -> None:
    """A decision button acts only if its data is what the desk signed for this chat."""
    if not verified(turn.hasher, pressed, turn.event.chat_id):
        await _tampered_button(turn)
        return
    action = pressed.action
    if isinstance(action, Security):
        await two_step.on_button(turn, action)
        return
    caller = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
    data = {"button": turn.event.button_data}
    if caller is not None and not await step_up.staff_gate(turn, caller, data):
        return
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
        AuditAction.TAMPERED_BUTTON,
        organization_id=caller.organization_id if caller else None,
        actor_person_id=caller.id if caller else None,
        data=(turn.event.button_data or "")[:64],
        chat_id=turn.event.chat_id,
    )
    turn.outcome.callback_notice = turn.texts("stale_button")
