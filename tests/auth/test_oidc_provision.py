"""Single sign-on's provisioning of accounts from the provider's claims (``oidc.provision``, as
the callback runs it): a login claim folded onto another login (case, Unicode, spaces) reaches
no account, an account awaiting its identity is bound only under the address it kept, claims of
an unexpected shape do not stop the sign-in, a refusal leaves no half-made account, and two
sign-ins at once on PostgreSQL bind one identity. Binding itself (issuer, ``sub``) is pinned by
``test_oidc_subject``."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portail.auth import services
from portail.auth.audit import query
from portail.auth.errors import AuthError
from portail.auth.models import SsoIdentity, User
from portail.auth.oidc import NO_ACCOUNT, OidcConfig, provision
from portail.catalog import open_catalog, transaction

ISSUER = "https://idp.example"
SSO = OidcConfig(ISSUER, "portail", None)


def sign_in(session, sub: str, login: str, config: OidcConfig = SSO, **claims):
    return provision(session, config, {"sub": sub, "preferred_username": login, **claims})


def as_the_callback(catalog, sub: str, login: str, config: OidcConfig = SSO, **claims) -> AuthError | None:
    """A sign-in as the callback runs it: a refusal is committed all the same (the flow spent,
    the refusal audited); the refusal, or None."""
    with transaction(catalog) as session:
        try:
            sign_in(session, sub, login, config, **claims)
        except AuthError as refusal:
            return refusal
    return None


def test_a_login_claim_folded_onto_another_login_reaches_no_account(instance):
    """``\\u212aate`` (KELVIN SIGN) lower-cases to ``kate`` and `` kate`` strips to it: names the
    provider holds for other users than its ``kate`` bound (or made) the account ``kate``."""
    with instance.session() as s:
        services.create_user(s, "kate", email="kate@example.org", actor="sso")  # SSO's, before identities were kept
    for claim in ("\u212aate", " kate", "kate\t", "\u212aeith"):
        with instance.session() as s, pytest.raises(AuthError, match="ask an administrator") as refused:
            sign_in(s, "intruder", claim)
        assert refused.value.status == 401
    with instance.session() as s:
        assert services.get_user(s, "kate").identities == []
        assert s.scalar(select(func.count()).select_from(User).where(User.login == "keith")) == 0
        assert sign_in(s, "k", "Kate", email="kate@example.org", email_verified=True).login == "kate"  # ASCII case is the provider's spelling of it
        assert sign_in(s, "k", "K\u00e4te").login == "kate"  # once bound, the claim no longer matters


@pytest.mark.parametrize("claims, login, why", [
    ({"preferred_username": "jos\u00e9"}, "jos\u00e9", "'jos\u00e9', the preferred_username claim,"),
    ({"preferred_username": "sso"}, "sso", "'sso', the preferred_username claim,"),
    ({}, "auth0|5f1/a b", "'auth0|5f1/a b', the subject, for want of a preferred_username claim,")],
    ids=["accent", "reserved", "subject"])
def test_a_login_claim_no_login_may_be_is_refused_for_an_administrator_to_bind(instance, claims, login, why):
    """A claim no login may be (an accent, the reserved ``sso``, or the subject standing in for
    a missing claim: Auth0's ``auth0|…``) failed making the account, a 400 naming a login its
    user cannot change and that nobody audited. Refused now as a held login is, audited with
    the subject, which an administrator binds to the account they make."""
    with instance.session() as s:
        with pytest.raises(AuthError, match="ask an administrator") as refused:
            provision(s, SSO, {"sub": "auth0|5f1/a b", **claims})
        detail = query(s, action="login.failure", target=f"user:{login}")[1][0].detail
        assert (refused.value.status, refused.value.message) == (401, f"{NO_ACCOUNT} {detail.pop('reference')}")
        assert detail == {"reason": f"{why} is no login here (lowercase letters, digits and . _ @ + - only)",
                          "via": "oidc", "issuer": ISSUER, "subject": "auth0|5f1/a b"}
        assert s.scalar(select(func.count()).select_from(User)) == 0
    with instance.session() as s:  # what the administrator does with it
        services.link_identity(s, services.create_user(s, "jose"), ISSUER, detail["subject"])
    with instance.session() as s:
        assert provision(s, SSO, {"sub": "auth0|5f1/a b", **claims}).login == "jose"


def test_an_account_awaiting_its_identity_is_bound_only_under_the_address_it_kept(instance):
    """After the upgrade, the first provider user naming themselves ``olga`` bound the account
    single sign-on had made for Olga (and her address, kept from the provider then): the
    address, which a provider user changes only by proving it, must be hers as well."""
    with instance.session() as s:
        services.create_user(s, "olga", email="olga@example.org", actor="sso")  # before identities were kept
    with instance.session() as s, pytest.raises(AuthError, match="ask an administrator"):
        sign_in(s, "intruder", "olga", email="intruder@example.net")
    with instance.session() as s, pytest.raises(AuthError, match="ask an administrator"):
        sign_in(s, "intruder", "olga", email="olga@example.org", email_verified=False)
    with instance.session() as s:
        assert query(s, action="login.failure", target="user:olga")[1][0].detail["reason"] == \
            "login held by an account awaiting its identity, under an address the provider did not verify " \
            "(email_verified not true)"
        olga = sign_in(s, "o", "olga", email="Olga@Example.org", email_verified=True)
        assert [i.subject for i in olga.identities] == ["o"]


def test_claims_of_an_unexpected_shape_do_not_stop_the_sign_in(instance):
    """The display name and groups are the provider's users' (or its mappers') to write: a name
    too long or holding a NUL refused the sign-in (400), a name or groups claim that is not text
    failed it (a 500)."""
    with instance.session() as s:
        services.create_group(s, "geo")
    odd = [{"name": 12}, {"name": ["A", "B"]}, {"name": "x" * 301}, {"name": "a\x00b"}, {"groups": 7},
           {"groups": {"geo": True}}, {"groups": [None, True, "geo"]}]
    for number, claims in enumerate(odd):
        with instance.session() as s:
            user = sign_in(s, f"s{number}", f"u{number}", **claims)
            assert user.display_name is None and user.login == f"u{number}"
    with instance.session() as s:
        assert [g.name for g in services.get_user(s, "u6").groups] == ["geo"]
        assert sign_in(s, "named", "named", name="Ann Lee").display_name == "Ann Lee"


def test_a_refusal_after_the_account_was_made_leaves_no_half_made_account(instance):
    """The callback commits refusals; one raised while the groups were synchronised (a mapped
    group no name may have) committed the new account, bound, outside its groups."""
    mapped = OidcConfig(ISSUER, "portail", None, group_map={"staff": "Data Team"})
    assert isinstance(as_the_callback(instance.catalog, "lena", "lena", mapped), AuthError)
    with instance.session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.login == "lena")) == 0
        assert s.scalar(select(func.count()).select_from(SsoIdentity)) == 0
    assert as_the_callback(instance.catalog, "lena", "lena") is None
    with instance.session() as s:
        assert [i.subject for i in services.get_user(s, "lena").identities] == ["lena"]


@pytest.mark.postgres
def test_two_sign_ins_at_once_bind_one_identity_and_refuse_the_other(pg_catalog_url):
    """On PostgreSQL two callbacks run at once: two identities claiming an account that awaits
    its identity were both bound to it; two claiming one free login, the second failed on the
    unique login (a 500, its flow unspent)."""
    catalog = open_catalog(pg_catalog_url)
    try:
        with transaction(catalog) as s:
            services.create_user(s, "mia", email="mia@example.org", actor="sso")  # single sign-on's, before identities were kept
        for login, first, second, refusal in (("mia", "m1", "m2", "ask an administrator"),
                                              ("noa", "n1", "n2", "please sign in again")):
            session = catalog()
            session.begin()
            sign_in(session, first, login, email=f"{login}@example.org", email_verified=True)  # holds its lock, or its new row, until it ends
            outcome: list[AuthError | None] = []
            other = threading.Thread(target=lambda: outcome.append(
                as_the_callback(catalog, second, login, email=f"{login}@example.org", email_verified=True)))
            other.start()
            other.join(0.5)
            assert other.is_alive()  # waits for the first sign-in
            session.commit()
            session.close()
            other.join(10)
            assert refusal in outcome[0].message, outcome
            with transaction(catalog) as s:
                assert [i.subject for i in services.get_user(s, login).identities] == [first]
                assert query(s, action="login.failure", target=f"user:{login}")[0] == (login == "mia")
    finally:
        catalog.kw["bind"].dispose()
