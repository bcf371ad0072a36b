"""An account single sign-on made before identities were kept (migration 0015) is bound at a
sign-in only under the address it kept *and* that the provider says it verified
(``oidc._address_verified``). A missing ``email_verified`` counted as verified: providers that
never send it (Azure AD / Entra ID among them) may let their users set their own mail attribute,
and whoever set the kept address took the account."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portail.auth import services
from portail.auth.audit import query
from portail.auth.errors import AuthError
from portail.auth.models import LoginSession, SsoIdentity
from portail.auth.oidc import OidcConfig, provision
from tests.auth.sso_refusals import refusal_detail

ISSUER = "https://idp.example"
SSO = OidcConfig(ISSUER, "portail", None)
UNVERIFIED = ("login held by an account awaiting its identity, under an address the provider did not verify "
              "(email_verified not true)")


def sign_in(session, sub: str, **claims):
    return provision(session, SSO, {"sub": sub, "preferred_username": "olga", "email": "olga@example.org", **claims})


@pytest.mark.parametrize("verified", [{}, {"email_verified": None}, {"email_verified": False},
                                      {"email_verified": "false"}, {"email_verified": 1},
                                      {"email_verified": "yes"}, {"email_verified": ""}],
                         ids=["missing", "null", "false", "text-false", "one", "yes", "empty"])
def test_the_kept_address_not_said_verified_binds_nothing(instance, verified):
    with instance.session() as s:
        services.create_user(s, "olga", email="olga@example.org", actor="sso")  # before identities were kept
    with instance.session() as s, pytest.raises(AuthError, match="ask an administrator") as raised:
        sign_in(s, "intruder", **verified)
    assert (raised.value.status, raised.value.code) == (401, "SSOError")
    with instance.session() as s:
        assert refusal_detail(s, "olga", raised.value) == {
            "reason": UNVERIFIED, "via": "oidc", "issuer": ISSUER, "subject": "intruder"}
        assert s.scalar(select(func.count()).select_from(SsoIdentity)) == 0
        assert s.scalar(select(func.count()).select_from(LoginSession)) == 0
        assert services.awaits_identity(s, services.get_user(s, "olga"))  # still the administrator's to bind


@pytest.mark.parametrize("verified", [True, "true", "True"])
def test_the_kept_address_said_verified_binds_the_account(instance, verified):
    """JSON true, or the text some providers send for it."""
    with instance.session() as s:
        services.create_user(s, "olga", email="olga@example.org", actor="sso")
    with instance.session() as s:
        assert [i.subject for i in sign_in(s, "o", email="Olga@Example.org", email_verified=verified).identities] == ["o"]
    with instance.session() as s:
        assert sign_in(s, "o").login == "olga"  # once bound, the identity is the account: its claims no longer matter
