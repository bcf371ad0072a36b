"""The errors of ``auth``: one class carrying an HTTP status and an Opendatasoft-style code.

``AuthError`` subclasses ``CatalogError`` on purpose: the API already renders those as
``{"error_code": …, "message": …}`` with their status, and the CLI prints them as one red
line, so neither needs a new handler. Messages never say whether a login or a key exists.
"""

from __future__ import annotations

from portail.catalog.services import CatalogError

#: What a client of the Explore API reads for a bad key (odsclient's tests assert this text).
INVALID_KEY = "API key is not valid"


class AuthError(CatalogError):
    """Refused credentials (401 by default) or any refused identity/permission change."""

    def __init__(self, message: str, status: int = 401, code: str = "Unauthorized"):
        super().__init__(message, status=status, code=code)


def invalid_key() -> AuthError:
    return AuthError(INVALID_KEY, 401, "InvalidAPIKey")


def invalid_token() -> AuthError:
    """An OAuth2 access token unknown, expired or revoked (RFC 6750 ``invalid_token``)."""
    return AuthError("Access token is not valid", 401, "InvalidToken")


def forbidden(message: str) -> AuthError:
    return AuthError(message, 403, "Forbidden")


def bad_request(message: str) -> AuthError:
    return AuthError(message, 400, "InvalidRESTParameterError")


def unknown(message: str) -> AuthError:
    return AuthError(message, 404, "NotFound")


def conflict(message: str) -> AuthError:
    return AuthError(message, 409, "Conflict")
