"""Fixtures for the SCIM directory's tests against the real scim2-server that
scripts/scim.sh starts (import them into the test module; this is not a conftest).

The observer (:class:`ScimServer`) reads the server with plain ``urllib``, not with the
adapter under test. scim2-server keeps a user's password in memory as it was sent and,
as RFC 7643 says of a ``returned: never`` attribute, never returns it; but a filter may
compare it, so ``password eq "..."`` is what shows which password is set.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.directories.scim import ScimDirectory, ScimSettings, filter_value
from flows.directory import AccountKind, AccountRef

SCIM_URL_VARIABLE = "BALIE_TEST_SCIM_URL"
SCIM_TOKEN_VARIABLE = "BALIE_TEST_SCIM_TOKEN"


@dataclass(frozen=True)
class ScimServer:
    """The running test server and what it keeps of a user."""

    url: str
    token: str

    def user_state(self, login: str) -> dict[str, Any]:
        """The server's User whose ``userName`` is ``login`` as JSON (``active``,
        ``externalId``, ``emails``...; never the password); {} when there is none."""
        users = self._search(f"userName eq {filter_value(login)}")
        return users[0] if users else {}

    def password_is(self, login: str, password: str) -> bool:
        """Whether the user's current password is exactly ``password``."""
        query = f"userName eq {filter_value(login)} and password eq {filter_value(password)}"
        return len(self._search(query)) == 1

    def _search(self, scim_filter: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"filter": scim_filter})
        request = urllib.request.Request(
            f"{self.url}/Users?{query}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            found: dict[str, Any] = json.load(answer)
        resources: list[dict[str, Any]] = found.get("Resources", [])
        return resources


@pytest.fixture
def scim_server() -> ScimServer:
    """The SCIM server of scripts/scim.sh; skip (or fail in CI) without one."""
    return running_scim_server()


def running_scim_server() -> ScimServer:
    """The SCIM server of scripts/scim.sh; skip (or fail in CI) without one."""
    url = os.environ.get(SCIM_URL_VARIABLE)
    token = os.environ.get(SCIM_TOKEN_VARIABLE)
    if not url or not token:
        reason = (
            f"{SCIM_URL_VARIABLE} and {SCIM_TOKEN_VARIABLE} are not set: start a server with "
            'scripts/scim.sh start and eval "$(scripts/scim.sh env)"'
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SCIM tests, but {reason}")
        pytest.skip(reason)
    return ScimServer(url.rstrip("/"), token)


def scim_settings(url: str, token: str, timeout: float = 10.0) -> ScimSettings:
    """Settings from the arguments alone, not from the environment or a ``.env``."""
    return ScimSettings(url=url, token=token, timeout=timeout, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def scim_directory(scim_server: ScimServer) -> AsyncIterator[ScimDirectory]:
    """A :class:`ScimDirectory` with the test server's URL and token."""
    directory = ScimDirectory(scim_settings(scim_server.url, scim_server.token))
    yield directory
    await directory.aclose()


def new_account(kind: AccountKind = AccountKind.CUSTOMER, name: str = "Noor Bakker") -> AccountRef:
    """An account no earlier test (nor run: the server lives on) has used."""
    tag = secrets.token_hex(4)
    return AccountRef(kind, 1, 1, f"noor.{tag}@example.org", f"K-{tag}", name)
