"""The guard in front of every deep-link token (an employee's invitation, a member's
invitation, a device pairing): a chat that sent too many tokens that opened nothing this hour
is refused before any lookup, with the words an unusable link gets, so guessing tokens from
many tries is as slow as the limit and an answer never tells a guessed token from a dead one.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows import limits
from flows.domain import AuditAction
from flows.turn import Turn


@dataclass(frozen=True)
class TokenGuard:
    limit_name: str
    """The count a chat's wrong tokens go to; kinds of link may share one."""
    refused: AuditAction
    unusable: str
    """The message id of a link that opens nothing (also the answer when limited)."""

    def _limit(self, turn: Turn) -> limits.Limit:
        return limits.Limit(self.limit_name, turn.policy.wrong_attempts_per_hour)

    async def limited(self, turn: Turn) -> bool:
        """True (audited and answered) when this chat must wait before its next token."""
        chat = turn.event.chat_id
        if not await limits.wait_needed(turn.tx, self._limit(turn), f"chat:{chat}", turn.now):
            return False
        await turn.audit(self.refused, reason="limited", chat_id=chat)
        turn.say(self.unusable)
        return True

    async def count_wrong(self, turn: Turn) -> None:
        """One more token of this chat that opened nothing."""
        await limits.record(turn.tx, self._limit(turn), f"chat:{turn.event.chat_id}", turn.now)


EMPLOYEE_INVITATION = TokenGuard(
    "invitation_token", AuditAction.INVITATION_REFUSED, unusable="invitation_unusable"
)
MEMBER_INVITATION = TokenGuard(
    # The employee invitation's budget: one count of wrong invitation links per chat.
    "invitation_token",
    AuditAction.MEMBER_INVITATION_REFUSED,
    unusable="invitation_unusable",
)
DEVICE_PAIRING = TokenGuard(
    "pairing_token", AuditAction.DEVICE_PAIRING_REFUSED, unusable="devices_pair_unusable"
)
