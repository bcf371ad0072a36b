"""A source URL as it may be kept and shown: without its credentials.

A data lake's URL carries its access in it: ``https://user:secret@host/file.csv``, a token or
key in the query (``?token=…``, ``?api_key=…``), an S3 presigned URL's ``X-Amz-Signature`` and
``X-Amz-Credential``, an Azure SAS's ``sig``. Recorded as a version's source it was shown back
to every manager (version listings, ``dataset show``), in error messages and in the dataset's
last load. So what is recorded is already redacted (``redacted_url``), and what is shown is
redacted again (rows written before this were stored whole).

The secret is not kept anywhere, on purpose: nothing needs it after the download. A reload of
a version whose URL lost its credentials is refused with a message asking for the full URL
again (``withheld``); scheduled loads, when they come, are to keep their credentials in a
secret store of their own, not in the catalogue's history.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

#: What stands in for a secret taken out.
MARK = "***"
#: The query (and fragment) parameter names taken for secrets, case-insensitive: any token,
#: secret, password or signature, a credential (``X-Amz-Credential``), an API key, and names
#: that are one of key, sig, auth, authorization, pass or jwt alone or after a separator
#: (``subscription-key``, ``x-api-key``, ``access_key``: an Azure SAS's ``sig``).
_SECRET_NAME = re.compile(r"token|secret|passw|pwd|signature|credential|apikey"
                          r"|(?:^|[-_.])(?:key|sig|auth|authorization|pass|jwt)$", re.IGNORECASE)
#: A URL within a message (httpx's, a redirect's): up to a space, quote or angle bracket.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def secret_name(name: str) -> bool:
    """Whether a query parameter named ``name`` (percent-encoded or not) holds a secret."""
    return bool(_SECRET_NAME.search(unquote_plus(name)))


def redacted_url(url: str) -> str:
    """``url`` with its ``user:password@`` made ``***@`` and the values of its secret-named
    query and fragment parameters (``secret_name``) made ``***``; anything else, and a text
    that is no ``scheme://host`` URL (a file's path, an upload's name), unchanged. Redacting
    twice changes nothing. A URL ``urlsplit`` refuses (``http://u:p@[::1``) loses its userinfo
    and its query: which part is which cannot be told."""
    try:
        parts = urlsplit(url)
    except ValueError:
        before_query = url.split("?", 1)[0].split("#", 1)[0]
        scheme, found, rest = before_query.partition("://")
        return f"{scheme}://{MARK}@{rest.rpartition('@')[2]}" if found and "@" in rest else before_query
    if not (parts.scheme and parts.netloc):
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MARK}@{netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, query=_redacted_pairs(parts.query),
                                     fragment=_redacted_pairs(parts.fragment)))


def _redacted_pairs(text: str) -> str:
    """``a=1&token=x`` as ``a=1&token=***``: each pair kept as written (its encoding, its order,
    ``;`` or ``&``) but for a secret's value."""
    pieces = re.split(r"([&;])", text)
    for index, piece in enumerate(pieces):
        name, equals, value = piece.partition("=")
        if equals and value and secret_name(name):
            pieces[index] = f"{name}={MARK}"
    return "".join(pieces)


def redacted_text(text: str) -> str:
    """``text`` (an error message from httpx, a redirect's) with every URL in it redacted."""
    return _URL_IN_TEXT.sub(lambda match: redacted_url(match.group()), text)


def withheld(url: str) -> bool:
    """Whether ``url`` is one ``redacted_url`` took credentials out of: fetched as it is, it
    would be refused or, worse, answered for an anonymous caller."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.netloc.rpartition("@")[0] == MARK:
        return True
    pairs = re.split(r"[&;]", parts.query) + re.split(r"[&;]", parts.fragment)
    return any(value == MARK and secret_name(name) for name, _, value in (pair.partition("=") for pair in pairs))
