"""Picks each organization's directory: its own ``directory`` setting, else the
deployment's ``BALIE_DIRECTORY``. The LDAP and SCIM connectors are shared by all the
organizations on them; the built-in one works in each step's transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from flows.builtin_directory import BuiltinDirectory
from flows.directory import Directory, DirectoryKind, DirectoryMisconfigured
from flows.model import Organization
from flows.store import Transaction

log = logging.getLogger("balie.directory")


class Connector(Directory, Protocol):
    """A directory reached over the network, opened once per process."""

    async def aclose(self) -> None: ...


class DeploymentDirectories:
    def __init__(
        self, default: DirectoryKind, connectors: Mapping[DirectoryKind, Connector] | None = None
    ) -> None:
        self.default = default
        self.connectors = dict(connectors or {})

    def kind_for(self, organization: Organization) -> DirectoryKind:
        if organization.directory:
            return DirectoryKind(organization.directory)
        return self.default

    def open(self, organization: Organization, tx: Transaction, now: datetime) -> Directory:
        kind = self.kind_for(organization)
        if kind is DirectoryKind.BUILTIN:
            return BuiltinDirectory(tx, now.date())
        connector = self.connectors.get(kind)
        if connector is None:
            raise DirectoryMisconfigured(
                f"{organization.name} uses the {kind.value} directory, but "
                f"BALIE_{kind.value.upper()}_URL is not set"
            )
        return connector

    async def check(self) -> None:
        """Reach every configured connector; :class:`DirectoryMisconfigured` (a bad
        certificate, a refused bind or token) stops the start, an outage is only logged:
        password steps then say so honestly and directory operations wait in the outbox."""
        for kind, connector in self.connectors.items():
            try:
                await connector.check()
            except DirectoryMisconfigured:
                raise
            except Exception as exc:
                log.warning("the %s directory cannot be reached now: %s", kind.value, exc)

    async def aclose(self) -> None:
        for connector in self.connectors.values():
            await connector.aclose()


def build_directories(default: DirectoryKind) -> DeploymentDirectories:
    """The directories the environment configures (``BALIE_LDAP_URL``, ``BALIE_SCIM_URL``).
    A default that is not configured is an error at start-up."""
    connectors: dict[DirectoryKind, Connector] = {}
    for kind, connector in _configured_connectors():
        connectors[kind] = connector
    if default is not DirectoryKind.BUILTIN and default not in connectors:
        raise DirectoryMisconfigured(
            f"BALIE_DIRECTORY={default.value}, but BALIE_{default.value.upper()}_URL is not set"
        )
    return DeploymentDirectories(default, connectors)


def _configured_connectors() -> list[tuple[DirectoryKind, Connector]]:
    """Filled in as the connectors land (LDAP, SCIM)."""
    return []
