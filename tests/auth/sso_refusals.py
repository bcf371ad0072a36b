"""Reading back a single sign-on refusal from the audit trail, for the tests of the accounts
single sign-on holds back (bound identities, legacy accounts, unverified addresses): kept here
rather than in one test file, so that a test file imports no other test file."""

from __future__ import annotations

from portail.auth.audit import query
from portail.auth.errors import AuthError
from portail.auth.oidc import NO_ACCOUNT


def refusal_detail(s, login: str, refusal: AuthError) -> dict:
    """The audit detail of a held-login refusal but its reference, which the visitor's message
    (``oidc.NO_ACCOUNT``) ends with: the one thing it says of the refusal."""
    detail = dict(query(s, action="login.failure", target=f"user:{login}")[1][0].detail)
    assert refusal.message == f"{NO_ACCOUNT} {detail.pop('reference')}"
    return detail
