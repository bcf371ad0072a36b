"""Accounts single sign-on made before identities were kept (migration 0015) and that kept no
address: nothing proves who their user is, so no sign-in binds them; an administrator does
(``portail user sso-link``, the management API). Their first claimant was bound to them: the
takeover identities were kept to end (``oidc._same_address``)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portail.auth import services
from portail.auth.audit import query, record
from portail.auth.errors import AuthError
from portail.auth.models import LoginSession, SsoIdentity
from portail.auth.oidc import OidcConfig, provision
from tests.auth.sso_refusals import refusal_detail

ISSUER = "https://idp.example"
SSO = OidcConfig(ISSUER, "portail", None)
WAITS = "login held by an account awaiting its identity, with no address to prove it by"


def sign_in(session, sub: str, login: str, **claims):
    return provision(session, SSO, {"sub": sub, "preferred_username": login, **claims})


def refusal(session, sub: str, login: str, **claims) -> dict:
    """Sign in expecting the held-login refusal; the refusal's audit detail."""
    with pytest.raises(AuthError, match="ask an administrator to link your identity") as raised:
        sign_in(session, sub, login, **claims)
    assert (raised.value.status, raised.value.code) == (401, "SSOError")
    return refusal_detail(session, login, raised.value)


def test_an_account_without_an_address_is_bound_by_an_administrator_not_by_its_first_claimant(instance):
    with instance.session() as s:
        services.create_user(s, "dave", actor="sso")  # an earlier release's sign-in, no email claim then
        services.create_user(s, "erin")  # an administrator's, signed into by single sign-on since
        # what an earlier release's sign-in audited: no issuer, no subject (``_sign_in``'s record)
        record(s, "login.success", actor="erin", target="user:erin", detail={"via": "oidc", "groups": []})
    with instance.session() as s:
        for login in ("dave", "erin"):
            assert services.awaits_identity(s, services.get_user(s, login))
            # a verified address changes nothing: the account kept none to compare it with
            assert refusal(s, f"{login}-intruder", login, email=f"{login}@example.org", email_verified=True) == {
                "reason": WAITS, "via": "oidc", "issuer": ISSUER, "subject": f"{login}-intruder"}
        assert refusal(s, "x", "dave")["reason"] == WAITS  # nor does a missing one
        assert s.scalar(select(func.count()).select_from(SsoIdentity)) == 0
        assert s.scalar(select(func.count()).select_from(LoginSession)) == 0
        assert query(s, action="login.success", target="user:dave")[0] == 0
        assert query(s, action="user.sso_link")[0] == 0
    with instance.session() as s:  # the administrator binds the subject the real dave's refusal named
        services.link_identity(s, services.get_user(s, "dave"), ISSUER, "d")
    with instance.session() as s:
        dave = sign_in(s, "d", "dave")
        assert dave.login == "dave" and [i.subject for i in dave.identities] == ["d"]
        assert refusal(s, "dave-intruder", "dave")["reason"] == "login held by an account bound to another identity"


def test_an_account_that_kept_its_address_is_still_bound_under_it(instance):
    """The automatic path that stays: the provider's verified address equal to the one kept."""
    with instance.session() as s:
        services.create_user(s, "olga", email="olga@example.org", actor="sso")
    with instance.session() as s:
        assert refusal(s, "intruder", "olga", email="other@example.org")["reason"] == \
            "login held by an account awaiting its identity, under another address"
        assert [i.subject for i in sign_in(s, "o", "olga", email="olga@example.org",
                                           email_verified=True).identities] == ["o"]
