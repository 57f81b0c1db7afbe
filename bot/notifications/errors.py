"""The senders' error lives in the core (:mod:`flows.delivery`): channel adapters raise it too."""

from __future__ import annotations

from flows.delivery import DeliveryError

__all__ = ["DeliveryError"]
