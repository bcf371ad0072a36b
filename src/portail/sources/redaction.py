"""A source URL as it may be kept and shown: without its credentials.

A data lake's URL carries its access in it: ``https://user:secret@host/file.csv``, a token or
key in the query (``?token=…``, ``?api_key=…``), an S3 presigned URL's ``X-Amz-Signature`` and
``X-Amz-Credential``, an Azure SAS's ``sig``. Recorded as a version's source it was shown back
to every manager (version listings, ``dataset show``), in error messages and in the dataset's
last load. So what is recorded is already redacted (``redacted_url``), and what is shown is
redacted again (rows written before this were stored whole).

A bare ``key`` whose value is a data file's name (``?key=exports/communes.csv``: an object
store's object key, a download service's file) names that file: no API key, token or
password ends in ``.csv``, and redacting it made such a source impossible to reload. Any
other ``key`` (Google's, Bing's ``key=AIza…``, a short one that could be a password) stays
secret. A value in a credential's own format (a GitHub or GitLab token, an AWS key id, a
Google API key, a JWT: ``_SECRET_FORMAT``) is a secret wherever it is, a query parameter of
any name or a segment of the path. Other path segments are not judged: the long ids found
there are mostly public (data.gouv.fr's resource UUIDs, a commit's 40 hex digits in a
raw.githubusercontent.com URL pinning a file), and a share link's id (Dropbox, Google Drive)
is the address itself, which reads the very file the dataset publishes. A URL within a query
parameter (``?url=https%3A%2F%2Fuser%3Apass%40h``: a proxy's, a redirect's) is redacted too.

The secret is not kept anywhere, on purpose: nothing needs it after the download. A reload of
a version whose URL lost its credentials is refused with a message asking for the full URL
again (``withheld``); scheduled loads, when they come, are to keep their credentials in a
secret store of their own, not in the catalogue's history.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from portail.ingest.detect import EXTENSIONS

#: What stands in for a secret taken out.
MARK = "***"
#: The query (and fragment) parameter names taken for secrets, case-insensitive: any token,
#: secret, password or signature, a credential (``X-Amz-Credential``), an API key, and names
#: that are one of key, sig, auth, authorization, pass or jwt alone or after a separator
#: (``subscription-key``, ``x-api-key``, ``access_key``: an Azure SAS's ``sig``).
_SECRET_NAME = re.compile(r"token|secret|passw|pwd|signature|credential|apikey"
                          r"|(?:^|[-_.])(?:key|sig|auth|authorization|pass|jwt)$", re.IGNORECASE)
#: Credentials in their issuers' own formats, made to be recognised wherever they leak: GitHub's
#: (``ghp_``, ``github_pat_``), GitLab's (``glpat-``), Slack's (``xoxb-``), Stripe's secret and
#: restricted keys, an AWS access key id, a Google API key and a JWT (two base64url JSON parts).
_SECRET_FORMAT = re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}|glpat-[\w-]{20,}"
                            r"|xox[abposr]-[\w-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
                            r"|(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[\w-]{35}|eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")
#: The names of the files a ``key`` parameter may name without being a secret: those read
#: (``ingest.detect``), and a zip archive holding one.
_DATA_SUFFIXES = frozenset({*EXTENSIONS, ".zip"})
#: A file's name or path, letters (accented too), digits, ``_ - . /`` and spaces.
_FILE_NAME = re.compile(r"[\w ./-]+")
#: The words of a text a credential is looked for in, each whole: a token is written between
#: spaces, slashes, colons or commas (``Bearer ghp_…``, ``a%2Fghp_…`` decoded), never within a word.
_WORD_BREAK = re.compile(r"[^\w.-]+")
#: How deep URLs within query values are redacted (a proxy's ``?url=`` holding a redirect's
#: ``?next=`` is two); a URL value deeper still is withheld whole. Unbounded, a source URL of
#: ``?u=http://h/`` nested some 600 times (8 kB) ran out of Python's stack: a 500.
NESTING = 5
#: A URL within a message (httpx's, a redirect's): up to a space, quote or angle bracket. The
#: scheme is 32 characters at most and not tied to a word's start: an unbounded one was tried
#: from each word of a long text to its end, a time growing as the square of its length.
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^\s'\"<>]+")


def secret_name(name: str) -> bool:
    """Whether a query parameter named ``name`` (percent-encoded or not) holds a secret."""
    return bool(_SECRET_NAME.search(unquote_plus(name)))


def secret_pair(name: str, value: str) -> bool:
    """Whether the query parameter ``name=value`` (percent-encoded or not) holds a secret: by
    its name (``secret_name``) unless it is a bare ``key`` naming a data file, or by its value's
    format (``_SECRET_FORMAT``)."""
    value = unquote_plus(value)
    if secret_name(name):
        return not (unquote_plus(name).lower() == "key" and _data_file_name(value))
    return secret_format(value)


def secret_format(text: str) -> bool:
    """Whether ``text`` (decoded) holds a credential in its issuer's format as one of its words
    (``_WORD_BREAK``): ``Bearer ghp_…`` as ``ghp_…``. Each word is matched whole, which keeps
    the match linear in the text's length (searched for, a JWT's ``eyJ`` was tried from each
    of its occurrences to the end)."""
    return any(_SECRET_FORMAT.fullmatch(word) for word in _WORD_BREAK.split(text))


def _data_file_name(text: str) -> bool:
    """Whether ``text`` is a data file's name or path (``exports/communes.csv``)."""
    return bool(_FILE_NAME.fullmatch(text)) and PurePosixPath(text).suffix.lower() in _DATA_SUFFIXES


def redacted_url(url: str) -> str:
    """``url`` with its ``user:password@`` made ``***@``, the values of its secret query and
    fragment parameters (``secret_pair``) and its path segments in a credential's format made
    ``***``, and the URLs its parameters hold redacted; anything else, and a text that is no
    ``scheme://host`` URL (a file's path, an upload's name), unchanged. Redacting
    twice changes nothing, and a URL with no secret is kept as written, byte for byte (rebuilt,
    ``HTTPS://h/x?`` became ``https://h/x``). A URL ``urlsplit`` refuses (``http://u:p@[::1``)
    loses its userinfo and its query: which part is which cannot be told."""
    return _redacted(url, 0)


def _redacted(url: str, depth: int) -> str:
    """``redacted_url`` of ``url``, a URL nested ``depth`` query values deep."""
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
    path = "/".join(MARK if secret_format(unquote(segment)) else segment for segment in parts.path.split("/"))
    shown = parts._replace(netloc=netloc, path=path, query=_redacted_pairs(parts.query, depth),
                           fragment=_redacted_pairs(parts.fragment, depth))
    return url if shown == parts else urlunsplit(shown)


def _redacted_pairs(text: str, depth: int) -> str:
    """``a=1&token=x`` as ``a=1&token=***``: each pair kept as written (its encoding, its order,
    ``;`` or ``&``) but for a secret's value and a URL holding one (re-encoded, redacted), and a
    token standing alone or as a name (``?ghp_…``). A value redacted is so up to the next ``&``:
    servers split on ``&`` only (WHATWG, Python's ``parse_qs``), so ``token=ab;cd`` sends the
    token ``ab;cd``, whose ``;cd`` was shown."""
    pieces = re.split(r"([&;])", text)
    hiding = False  # within a value redacted, up to the next &
    for index, piece in enumerate(pieces):
        if piece == "&":
            hiding = False
            continue
        if hiding:
            pieces[index] = ""
            continue
        name, equals, value = piece.partition("=")
        if secret_format(unquote_plus(name)):
            pieces[index] = MARK
        elif not (equals and value):
            continue
        elif secret_pair(name, value):
            pieces[index] = f"{name}={MARK}"
        elif not _is_url(inner := unquote_plus(value)):
            continue
        elif depth >= NESTING:
            pieces[index] = f"{name}={MARK}"
        elif (shown := _redacted(inner, depth + 1)) != inner:
            pieces[index] = f"{name}={quote(shown, safe=':/@*')}"
        else:
            continue
        hiding = True
    return "".join(pieces)


def _is_url(text: str) -> bool:
    """Whether ``text`` is a ``scheme://host…`` URL, one ``redacted_url`` would redact."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return "://" in text
    return bool(parts.scheme and parts.netloc)


def redacted_text(text: str) -> str:
    """``text`` (an error message from httpx, a redirect's) with every URL in it redacted."""
    return _URL_IN_TEXT.sub(lambda match: redacted_url(match.group()), text)


def withheld(url: str, depth: int = 0) -> bool:
    """Whether ``url`` is one ``redacted_url`` took credentials out of: fetched as it is, it
    would be refused or, worse, answered for an anonymous caller. URLs within its query values
    are looked into as deep as ``redacted_url`` looks (``NESTING``), no deeper."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.netloc.rpartition("@")[0] == MARK or MARK in parts.path.split("/"):
        return True
    pairs = re.split(r"[&;]", parts.query) + re.split(r"[&;]", parts.fragment)
    values = [unquote_plus(pair.partition("=")[2] if "=" in pair else pair) for pair in pairs]
    return any(value == MARK or (depth < NESTING and _is_url(value) and withheld(value, depth + 1)) for value in values)
