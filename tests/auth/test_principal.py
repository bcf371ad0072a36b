"""Reading the caller from a request: the apikey scheme in any case, ``?apikey=``, anonymous."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers, QueryParams

from portail.auth import ANONYMOUS, AuthError, Principal, principal_from_request, services
from portail.auth.principal import key_from_request
from portail.catalog import transaction


@pytest.fixture
def keyed(sqlite_catalog):
    catalog = sqlite_catalog
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice", role="publisher")
        group = services.create_group(s, "statisticiens")
        services.add_member(s, group, alice)
        key, secret = services.create_api_key(s, alice, scopes=["read"])
        _, spare = services.create_api_key(s, alice, scopes=["manage"])
    return catalog, secret, spare, key.id


@pytest.mark.parametrize("scheme", ["Apikey", "ApiKey", "apikey", "APIKEY", "aPiKeY"])
def test_the_apikey_scheme_is_matched_case_insensitively(keyed, scheme):
    factory, secret, _, key_id = keyed
    principal = principal_from_request(Headers({"Authorization": f"{scheme} {secret}"}), QueryParams(""), factory)
    assert principal == Principal(login="alice", user_id=principal.user_id, roles=frozenset({"publisher"}),
                                  groups=frozenset({"statisticiens"}), scopes=frozenset({"read"}), datasets=None,
                                  key_id=key_id)
    assert principal.is_authenticated and not principal.is_admin


def test_plain_mappings_and_surrounding_spaces(keyed):
    factory, secret, _, _ = keyed
    assert principal_from_request({"authorization": f"  apikey   {secret}  "}, {}, factory).login == "alice"
    assert principal_from_request({"AUTHORIZATION": f"ApiKey {secret}"}, {}, factory).login == "alice"


def test_the_query_parameter(keyed):
    factory, secret, _, _ = keyed
    assert principal_from_request(Headers({}), QueryParams({"apikey": secret, "limit": "5"}), factory).login == "alice"


def test_no_credentials_is_anonymous(keyed):
    factory, *_ = keyed
    principal = principal_from_request(Headers({}), QueryParams("limit=5"), factory)
    assert principal is ANONYMOUS and not principal.is_authenticated and principal.roles == frozenset()


@pytest.mark.parametrize("authorization", ["Bearer management-token", "Token abc"])  # Basic: test_http_basic
def test_other_schemes_are_left_alone(keyed, authorization):
    factory, secret, _, _ = keyed
    assert principal_from_request({"Authorization": authorization}, {}, factory) is ANONYMOUS
    # ...and the query key still counts next to a management Bearer token.
    assert principal_from_request({"Authorization": authorization}, {"apikey": secret}, factory).login == "alice"


def test_the_header_key_wins_over_the_query_key(keyed):
    factory, secret, spare, _ = keyed
    principal = principal_from_request({"Authorization": f"Apikey {spare}"}, {"apikey": secret}, factory)
    assert principal.scopes == frozenset({"manage", "read"})
    with pytest.raises(AuthError):
        principal_from_request({"Authorization": "Apikey pk_wrong"}, {"apikey": secret}, factory)


@pytest.mark.parametrize("headers, query", [
    ({"Authorization": "Apikey pk_doesnotexist0000000000000000000000000000"}, {}),
    ({"Authorization": "Apikey"}, {}),
    ({"Authorization": "ApiKey   "}, {}),
    ({}, {"apikey": ""}),
    ({}, {"apikey": "not-a-key"}),
])
def test_a_bad_key_is_a_401_never_anonymous(keyed, headers, query):
    factory, *_ = keyed
    with pytest.raises(AuthError) as error:
        principal_from_request(headers, query, factory)
    assert (error.value.status, error.value.code, error.value.message) == (401, "InvalidAPIKey", "API key is not valid")


def test_a_revoked_key_is_a_401_on_each_database(catalog):
    with transaction(catalog) as s:
        key, secret = services.create_api_key(s, services.create_user(s, "alice"))
        key_id = key.id
    assert principal_from_request({"Authorization": f"ApiKey {secret}"}, {}, catalog).login == "alice"
    factory = catalog
    with transaction(factory) as s:
        services.revoke_api_key(s, key_id)
    with pytest.raises(AuthError, match="API key is not valid"):
        principal_from_request({"Authorization": f"Apikey {secret}"}, {}, factory)


def test_key_from_request_alone():
    assert key_from_request({"Authorization": "apikey pk_x"}, {}) == "pk_x"
    assert key_from_request({"Authorization": "Bearer t"}, {}) is None
    assert key_from_request({}, {"apikey": " pk_y "}) == "pk_y"
    assert key_from_request({}, {}) is None
