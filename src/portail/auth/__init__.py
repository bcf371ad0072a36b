"""Who is asking, what they may do, and what rows and fields they may see.

- ``principal_from_request(headers, query_params, session_factory) -> Principal``: the caller,
  from ``Authorization: Apikey <key>`` (scheme in any case) or ``?apikey=``, or a login and
  password as HTTP Basic; anonymous without credentials; ``AuthError`` (401, "API key is not
  valid") for a bad key, 401 with the same code for refused Basic credentials.
- ``can(principal, action, dataset_ref) -> bool``: every permission, one table (``RULES``).
- ``security_for(principal, dataset_ref, security_row) -> Security``: the row filters (ODSQL
  ``where`` texts, OR-ed) and hidden fields of one caller, for ``odsql.compile`` to apply.
- ``services``: every change (users, groups, keys, grants, rulesets), audited; ``dataset_ref``
  builds the ``DatasetRef`` the two functions above take.

Private behind this face: ``passwords`` (argon2id, policy, lockout, reset tokens), ``keys``
(API key lifecycle), ``models`` (tables, migrations ``0002``-``0006``), ``audit``, ``cli``,
``sessions`` (sign-in sessions in the catalogue), ``basic`` (HTTP Basic and its cache),
``csrf`` (which token a request must echo), ``oidc`` (OpenID Connect sign-in), ``oauth2`` (the
OAuth2 provider for applications), ``ratelimit`` (quotas and counters; ``api.guard`` applies
them). This package never builds SQL for records and knows nothing of HTTP frameworks.
"""

from portail.auth import services
from portail.auth.errors import AuthError
from portail.auth.permissions import ACTIONS, RULES, DatasetRef, Security, can, security_for
from portail.auth.principal import ANONYMOUS, Principal, principal_for_user, principal_from_request

__all__ = ["ACTIONS", "ANONYMOUS", "AuthError", "DatasetRef", "Principal", "RULES", "Security", "can",
           "principal_for_user", "principal_from_request", "security_for", "services"]
