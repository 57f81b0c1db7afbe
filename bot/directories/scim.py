"""The SCIM 2.0 directory (RFC 7643/7644): the provisioning protocol of Entra ID, Okta,
Keycloak and authentik.

Balie is the SCIM client. A person's account is the ``User`` whose ``userName`` is their
login (the e-mail address), else the one whose ``externalId`` is their customer number
(``person-<id>`` for an employee); two plain ``eq`` filters, because every service
supports those. A password goes to the write-only ``password`` attribute (the service
hashes it under its own policy and never returns it); ``active`` says whether the account
may log in, so disabling is a PATCH of ``active: false`` and nothing is deleted.

The token and the password never reach a log line or an exception message: errors are
raised ``from None``, so not even a traceback keeps the request that carried them.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx2
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from scim2_client import SCIMClientException
from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_client.errors import RequestNetworkException, ResponsePayloadValidationException
from scim2_models import (
    Email,
    ListResponse,
    Name,
    PatchOp,
    SCIMException,
    ScimPolicy,
    ScimProvider,
    SearchRequest,
    UniquenessException,
    User,
)

from flows.directory import (
    AccountMissing,
    AccountRef,
    DirectoryAccount,
    DirectoryKind,
    DirectoryMisconfigured,
    DirectoryUnavailable,
    PasswordRejected,
)

BUSY_STATUSES = frozenset({408, 429})
"""Besides 5xx, the answers that mean "later", not "wrong"."""

_PASSWORD_URN = re.compile(r"'?urn:[\w.:-]*:password'?", re.IGNORECASE)
_QUOTED_CHARACTER = re.compile(r"characters? '[^']*'")
_POSITION = re.compile(r"\s*in positions? \d+(?:-+\d+)?")
REASON_LENGTH = 200


class ScimSettings(BaseSettings):
    """Where the SCIM service is and how Balie authenticates to it (``BALIE_SCIM_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="BALIE_SCIM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    url: str
    """The service's base URL, the one ``/Users`` hangs under (``https://idp/scim/v2``)."""
    token: SecretStr
    """Sent as ``Authorization: Bearer``; a long-lived provisioning token of the service."""
    ca_file: Path | None = None
    """A PEM file of the CA to trust, for a service with a certificate of its own CA."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds per request; slower counts as unavailable."""


def filter_value(value: str) -> str:
    """A SCIM filter's compare value: a JSON string (RFC 7644 §3.4.2.2), quotes escaped."""
    return json.dumps(value, ensure_ascii=False)


def _provider() -> ScimProvider:
    # Services add attributes and extensions of their own (Entra ID, Okta): Balie reads
    # the core User attributes and lets the rest pass.
    return ScimProvider(models=[User], policy=ScimPolicy(unknown=ScimPolicy.Unknown.ignore))


def _verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise DirectoryMisconfigured(
            f"BALIE_SCIM_CA_FILE {ca_file}: not a readable PEM file ({_one_line(str(exc))})"
        ) from None


def _one_line(text: str, secret: str | None = None) -> str:
    line = " ".join(text.split())
    if secret:
        line = line.replace(secret, "…")
    return line[:REASON_LENGTH]


def plain_reason(detail: str, password: str) -> str:
    """The service's words on a refused password as one short sentence for the person:
    attribute URNs and quoted characters out, the password itself never in."""
    text = _PASSWORD_URN.sub("the password", " ".join(detail.split()))
    text = _POSITION.sub("", _QUOTED_CHARACTER.sub("a character", text))
    if password:
        text = text.replace(password, "…")
    text = text.strip(" .")
    if not text:
        return "The directory refused this password."
    if len(text) > REASON_LENGTH:
        text = text[:REASON_LENGTH].rsplit(" ", 1)[0] + " …"
    return f"{text[0].upper()}{text[1:]}."


def _status(exc: SCIMException | SCIMClientException) -> int | None:
    if isinstance(exc, SCIMException):
        raw: Any = exc.status
    else:
        raw = getattr(exc.source, "status_code", None)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class ScimDirectory:
    """One organization's SCIM 2.0 service, as :class:`flows.directory.Directory`."""

    kind = DirectoryKind.SCIM

    def __init__(self, settings: ScimSettings) -> None:
        """Raises :class:`DirectoryMisconfigured` for a CA file that cannot be read."""
        self._url = settings.url.rstrip("/")
        self._http = httpx2.AsyncClient(
            base_url=self._url,
            headers={"Authorization": f"Bearer {settings.token.get_secret_value()}"},
            timeout=settings.timeout,
            verify=_verify(settings.ca_file),
        )
        self._scim = AsyncSCIMClient(self._http, provider=_provider())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def find(self, account: AccountRef) -> DirectoryAccount | None:
        user = await self._lookup(account)
        return None if user is None else _account(user)

    async def ensure_enabled(self, account: AccountRef) -> DirectoryAccount:
        user = await self._lookup(account)
        if user is None:
            user = await self._create(account)
        elif user.active is not True:
            await self._patch(user, active=True)
        return DirectoryAccount(user.user_name, user.external_id, active=True)

    async def set_password(self, account: AccountRef, password: str) -> None:
        # One request either way, so a refused password changes nothing: a missing account
        # is created with it, an existing one gets it and `active: true` in one PATCH
        # (atomic, RFC 7644 §3.5.2).
        user = await self._lookup(account)
        if user is None:
            await self._create(account, password=password)
        else:
            await self._patch(user, active=True, password=password)

    async def disable(self, account: AccountRef, on: date) -> None:
        # SCIM has no "as of": Balie calls this on the day itself (the worker's job).
        user = await self._lookup(account)
        if user is not None and user.active is not False:
            await self._patch(user, active=False, missing_is_fine=True)

    async def is_active(self, account: AccountRef) -> bool:
        user = await self._lookup(account)
        return user is not None and user.active is not False

    async def check(self) -> None:
        with self._translated("check"):
            await self._scim.query(User, query_parameters=SearchRequest(count=1))

    async def _lookup(self, account: AccountRef) -> User | None:
        if account.login:
            user = await self._first(f"userName eq {filter_value(account.login)}")
            if user is not None:
                return user
        return await self._first(f"externalId eq {filter_value(account.external_id)}")

    async def _first(self, scim_filter: str) -> User | None:
        with self._translated("search"):
            search: SearchRequest[Any] = SearchRequest.model_validate(
                {"filter": scim_filter, "count": 1}
            )
            found = await self._scim.query(User, query_parameters=search)
        if not isinstance(found, ListResponse):
            raise DirectoryMisconfigured(f"SCIM {self._url}: a search did not return a list")
        users: list[User] = [u for u in found.resources or [] if isinstance(u, User)]
        return users[0] if users else None

    async def _create(self, account: AccountRef, password: str | None = None) -> User:
        login = account.login or account.external_id
        with self._translated("create", password):
            user: User = User(
                user_name=login,
                external_id=account.external_id,
                display_name=account.name or None,
                name=Name(formatted=account.name) if account.name else None,
                emails=_emails(account.login),
                active=True,
                password=password,
            )
            created: object
            try:
                created = await self._scim.create(user)
            except UniquenessException:
                created = None  # made meanwhile, or the userName is someone else's
        if isinstance(created, User):
            return created
        again = await self._lookup(account)
        if again is None:
            raise DirectoryMisconfigured(
                f"SCIM {self._url}: userName {login} is taken by an account with another externalId"
            ) from None
        if password is not None:
            await self._patch(again, active=True, password=password)
        return again

    async def _patch(
        self,
        user: User,
        *,
        active: bool,
        password: str | None = None,
        missing_is_fine: bool = False,
    ) -> None:
        with self._translated("patch", password):
            operations = [{"op": "replace", "path": "active", "value": active}]
            if password is not None:
                operations.append({"op": "replace", "path": "password", "value": password})
            patch = PatchOp[User].model_validate({"Operations": operations})
            try:
                await self._scim.modify(User, user.id, patch)
            except SCIMException as exc:
                if _status(exc) != 404:
                    raise
                if not missing_is_fine:
                    raise AccountMissing(
                        f"SCIM {self._url}: user {user.user_name} is gone"
                    ) from None

    @contextmanager
    def _translated(self, action: str, password: str | None = None) -> Iterator[None]:
        """The client's and the service's errors as the port's, with one line each."""
        where = f"SCIM {self._url} ({action})"
        try:
            yield
        except RequestNetworkException as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                hint = (
                    "; is BALIE_SCIM_CA_FILE the service's CA?"
                    if isinstance(tls, ssl.SSLCertVerificationError)
                    else ""
                )
                raise DirectoryMisconfigured(
                    f"{where}: TLS failed ({_one_line(str(tls))}){hint}"
                ) from None
            notes = "; ".join(getattr(exc, "__notes__", []))
            raise DirectoryUnavailable(
                f"{where}: unreachable or too slow ({_one_line(notes or str(exc))})"
            ) from None
        except SCIMException as exc:
            status = _status(exc)
            detail = _one_line(str(exc), password)
            if password is not None and _refuses_password(exc, action):
                raise PasswordRejected(plain_reason(str(exc), password)) from None
            raise _by_status(where, status, detail) from None
        except ResponsePayloadValidationException:
            raise DirectoryMisconfigured(
                f"{where}: the answer is not a SCIM User Balie can read"
            ) from None
        except SCIMClientException as exc:
            raise _by_status(where, _status(exc), _one_line(str(exc), password)) from None
        except ValidationError:
            # pydantic's message quotes the input, which may be the password.
            raise DirectoryMisconfigured(
                f"{where}: the account's values are not valid SCIM (login, name or e-mail)"
            ) from None


def _refuses_password(exc: SCIMException, action: str) -> bool:
    """A 400 on a request carrying the password: its policy, unless it names another
    attribute (a creation's ``invalidValue`` may be about the e-mail)."""
    if _status(exc) != 400:
        return False
    about_password = "password" in str(exc).lower()
    if action == "patch":
        return about_password or exc.scim_type == "invalidValue"
    return about_password


def _by_status(where: str, status: int | None, detail: str) -> Exception:
    if status in (401, 403):
        return DirectoryMisconfigured(f"{where}: the service refused the token (HTTP {status})")
    if status is None or status >= 500 or status in BUSY_STATUSES:
        suffix = f"HTTP {status}: {detail}" if status else detail
        return DirectoryUnavailable(f"{where}: failing for now ({suffix})")
    if status == 404:
        return DirectoryMisconfigured(f"{where}: no SCIM Users endpoint there (HTTP 404)")
    return DirectoryMisconfigured(f"{where}: HTTP {status}: {detail}")


def _emails(login: str | None) -> list[Email] | None:
    """The login as the primary e-mail, when it is one the models accept."""
    if not login:
        return None
    try:
        return [Email(value=login, primary=True)]
    except ValidationError:
        return None


def _account(user: User) -> DirectoryAccount:
    return DirectoryAccount(user.user_name, user.external_id, active=user.active is not False)
