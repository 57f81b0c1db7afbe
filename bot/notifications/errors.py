"""The one error a sender raises, telling the outbox worker whether retrying can help."""

from __future__ import annotations


class DeliveryError(Exception):
    """A message could not be delivered.

    ``reason`` is short and safe to store and log: it never holds the message body or a
    credential. ``permanent`` means a retry cannot succeed (e.g. the recipient does not exist);
    otherwise the worker tries again later (server down, timeout, rate limit, 4xx SMTP reply).
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        """Seconds the provider asked to wait before trying again (Telegram's flood control)."""

    def __repr__(self) -> str:
        return f"DeliveryError({self.reason!r}, permanent={self.permanent})"
