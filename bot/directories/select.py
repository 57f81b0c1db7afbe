"""Picks each organization's directory: its own ``directory`` setting, else the
deployment's ``BALIE_DIRECTORY``. The LDAP and SCIM connectors are shared by all the
organizations on them; the built-in one works in each step's transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from bot.settings import Settings
from flows.builtin_directory import BuiltinDirectory, hash_password
from flows.directory import Directory, DirectoryKind, DirectoryMisconfigured, PasswordChange
from flows.model import Organization
from flows.password_rules import PasswordHasher
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
        self._hasher = PasswordHasher()

    def kind_for(self, organization: Organization) -> DirectoryKind:
        if organization.directory:
            return DirectoryKind(organization.directory)
        return self.default

    def open(self, organization: Organization, tx: Transaction, now: datetime) -> Directory:
        kind = self.kind_for(organization)
        if kind is DirectoryKind.BUILTIN:
            return BuiltinDirectory(tx, now.date(), self._hasher)
        return self._connector(kind, organization)

    async def change_password(self, change: PasswordChange) -> str | None:
        if change.kind is DirectoryKind.BUILTIN:
            return await hash_password(self._hasher, change.password)
        await self._connector(change.kind).set_password(change.account, change.password)
        return None

    def _connector(
        self, kind: DirectoryKind, organization: Organization | None = None
    ) -> Connector:
        connector = self.connectors.get(kind)
        if connector is None:
            whose = organization.name if organization is not None else "An organization"
            raise DirectoryMisconfigured(
                f"{whose} uses the {kind.value} directory, but "
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


def build_directories(settings: Settings) -> DeploymentDirectories:
    """The directories the environment configures (``BALIE_LDAP_URL``, ``BALIE_SCIM_URL``).
    A default that is not configured, or a connector's setting that does not parse, is an
    error at start-up (one line)."""
    connectors = dict(_configured_connectors(settings))
    default = settings.directory
    if default is not DirectoryKind.BUILTIN and default not in connectors:
        raise DirectoryMisconfigured(
            f"BALIE_DIRECTORY={default.value}, but BALIE_{default.value.upper()}_URL is not set"
        )
    return DeploymentDirectories(default, connectors)


def _configured_connectors(settings: Settings) -> list[tuple[DirectoryKind, Connector]]:
    """Each connector whose URL is set, with its own settings class (loaded only then: their
    required fields are required only for a directory in use)."""
    found: list[tuple[DirectoryKind, Connector]] = []
    try:
        if settings.ldap_url:
            from bot.directories.ldap import LdapDirectory, LdapSettings

            found.append((DirectoryKind.LDAP, LdapDirectory(LdapSettings())))  # type: ignore[call-arg]
    except ValidationError as exc:
        raise DirectoryMisconfigured(_setting_error("BALIE_LDAP_", exc)) from None
    try:
        if settings.scim_url:
            from bot.directories.scim import ScimDirectory, ScimSettings

            found.append((DirectoryKind.SCIM, ScimDirectory(ScimSettings())))  # type: ignore[call-arg]
    except ValidationError as exc:
        raise DirectoryMisconfigured(_setting_error("BALIE_SCIM_", exc)) from None
    return found


def connector_secrets(settings: Settings) -> list[str]:
    """The connectors' secrets (a bind password, a token), for the log filter to mask."""
    secrets: list[str] = []
    if settings.ldap_url:
        from bot.directories.ldap import LdapSettings

        with suppress(ValidationError):
            secrets.append(LdapSettings().bind_password.get_secret_value())  # type: ignore[call-arg]
    if settings.scim_url:
        from bot.directories.scim import ScimSettings

        with suppress(ValidationError):
            secrets.append(ScimSettings().token.get_secret_value())  # type: ignore[call-arg]
    return secrets


def _setting_error(prefix: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    name = prefix + "_".join(str(part) for part in first["loc"]).upper()
    return f"setting {name} is invalid: {first['msg']}"
