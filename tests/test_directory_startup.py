"""A directory Balie cannot use stops start-up (``balie run``) and ``balie org check`` with
one clear line; a bad certificate, a refused bind or a refused token are the operator's to fix."""

from __future__ import annotations

from pathlib import Path

from tests.ldap_server import LdapServer, ldap_server  # noqa: F401
from tests.scim_server import ScimServer, scim_server  # noqa: F401
from tests.test_cli import assert_one_line_error, balie, environment


def _ldap_env(tmp_path: Path, server: LdapServer, **changes: str) -> dict[str, str]:
    values = {
        "BALIE_DIRECTORY": "ldap",
        "BALIE_LDAP_URL": server.url,
        "BALIE_LDAP_CA_FILE": str(server.ca_file),
        "BALIE_LDAP_BIND_DN": server.bind_dn,
        "BALIE_LDAP_BIND_PASSWORD": server.bind_password,
        "BALIE_LDAP_USERS_DN": server.users_dn,
    }
    values.update(changes)
    return environment(tmp_path, **values)


def test_a_refused_bind_stops_start_up_with_one_line(
    tmp_path: Path,
    ldap_server: LdapServer,  # noqa: F811
) -> None:
    wrong = "not-the-password-0123"
    run = balie(
        tmp_path, "run", env=_ldap_env(tmp_path, ldap_server, BALIE_LDAP_BIND_PASSWORD=wrong)
    )
    assert_one_line_error(run, "directory:", ldap_server.bind_dn)
    assert wrong not in run.stderr


def test_an_untrusted_certificate_stops_start_up_with_one_line(
    tmp_path: Path,
    ldap_server: LdapServer,  # noqa: F811
) -> None:
    env = _ldap_env(tmp_path, ldap_server)
    del env["BALIE_LDAP_CA_FILE"]  # the system's store does not know the test CA
    assert_one_line_error(balie(tmp_path, "run", env=env), "directory:", "certificate")


def test_org_check_reaches_each_directory(
    tmp_path: Path,
    ldap_server: LdapServer,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    assert balie(tmp_path, "org", "add", "Acme Wonen", "--partner-id", "ACME-1").code == 0
    env = _ldap_env(tmp_path, ldap_server, BALIE_DIRECTORY="builtin")
    env.update(BALIE_SCIM_URL=scim_server.url, BALIE_SCIM_TOKEN=scim_server.token)
    moved = balie(tmp_path, "org", "set", "ACME-1", "--directory", "ldap", env=env)
    assert moved.code == 0, moved.stderr
    assert "directory: ldap" in moved.stdout
    checked = balie(tmp_path, "org", "check", "ACME-1", env=env)
    assert (checked.code, checked.stdout.strip()) == (0, "Acme Wonen: ldap directory reached")
    scim = balie(tmp_path, "org", "set", "ACME-1", "--directory", "scim", env=env)
    assert scim.code == 0, scim.stderr
    env["BALIE_SCIM_TOKEN"] = "wrong-token-0123456789"
    refused = balie(tmp_path, "org", "check", "ACME-1", env=env)
    assert_one_line_error(refused, "the scim directory")
    assert "wrong-token-0123456789" not in refused.stderr
