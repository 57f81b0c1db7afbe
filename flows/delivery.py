"""The one error a sender raises, telling the outbox worker whether and when to try again.

It is in the core because every channel adapter raises it (a Telegram send that failed)
and the worker in :mod:`bot.notifications` reads it; neither needs the other.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A message could not be delivered.

    ``reason`` is short and safe to store and log: it never holds the message body, a full
    address or a credential. ``permanent`` means a retry cannot succeed (e.g. the recipient
    does not exist); otherwise the worker tries again later (server down, timeout, rate
    limit, 4xx SMTP reply). ``retry_after`` is the provider's own wait in seconds (Telegram's
    ``retry_after``, an HTTP ``Retry-After``): the next attempt comes exactly then instead of
    after the worker's backoff. ``undeliverable`` (with ``permanent``) says the address or
    number itself is refused (no such mailbox, not a mobile number, unsubscribed, the bot is
    blocked), so the worker records it and sends nothing more there.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        undeliverable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent or undeliverable
        self.retry_after = retry_after if retry_after is not None and retry_after >= 0 else None
        self.undeliverable = undeliverable

    def __repr__(self) -> str:
        return (
            f"DeliveryError({self.reason!r}, permanent={self.permanent}, "
            f"retry_after={self.retry_after}, undeliverable={self.undeliverable})"
        )
