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

A password holding an unencoded ``/``, ``?`` or ``#`` (``https://u:pa/ss@host/f.csv``) ends the
host early for every client (RFC 3986, browsers, httpx, curl, requests): httpx refuses the
port ``pa``, and a password starting with digits makes the user's name a host and the rest a
path. So such a URL is refused before any download (``userinfo_cut_short``), and redacted up to
the ``@`` that ends its userinfo. Within a query value, a URL without a scheme is one too when a
redirect or a proxy would follow it: scheme-relative (``//user:pass@host/x``) or a proxy's
``user:password@host`` (a dotted host name, an address or localhost: ``12:30@x`` is no
credential).

What stands in for a secret taken out is ``<redacted>`` (``MARK``): ``<`` and ``>`` appear in
no URL unencoded (httpx and browsers send them as ``%3C``, ``%3E``), so a value that happens to
be ``***``, the marker rows recorded before it hold (``LEGACY_MARK``), is not taken for one. Those
rows read as before: shown unchanged, and a reload of one is refused where that marker could
only stand for a secret (the userinfo, a path segment, a parameter with a secret's name); under
another name (``?q=***``) it is read as the value it may be.

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

#: What stands in for a secret taken out: never in a URL unencoded (``<``, ``>``), unlike ``***``.
MARK = "<redacted>"
#: What stood for a secret in the rows recorded before ``MARK``; a real value at times (``?q=***``).
LEGACY_MARK = "***"
_MARKS = (MARK, LEGACY_MARK)
#: A URL's scheme, and the end of an authority as every client reads it: the first ``/ ? #``.
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")
_AUTHORITY_END = re.compile(r"[/?#]")
#: A query value that is a URL's ``user:password@host`` without scheme nor ``//``, as a proxy
#: setting is written (curl's ``-x``, ``HTTP_PROXY``): a host name with a dot, an IPv4 address, a
#: bracketed IPv6 one or localhost, then a port, a path, a query. ``12:30@x`` is not one.
_BARE_AUTHORITY = re.compile(r"[^\s/?#@:]+:[^\s/?#]*@(?:(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*\.?"
                             r"|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|localhost)(?::\d*)?(?:[/?#].*)?", re.DOTALL)
#: A time of day at a place (``12:30@paris.fr``), not a user and password.
_CLOCK = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?@")
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
    """``redacted_url`` of ``url``, a URL nested ``depth`` query values deep (where one may also be
    scheme-relative: ``_nested_url``)."""
    if (at := _cut_at(url)) is not None and (depth or not url.startswith("//")):  # the rest redacted as
        # any URL's, the userinfo marked; a scheme-relative one is a URL in a query value only
        url = f"{url[:url.find('//') + 2]}{MARK}@{url[at + 1:]}"
    try:
        parts = urlsplit(url)
    except ValueError:
        before_query = url.split("?", 1)[0].split("#", 1)[0]
        head, found, rest = before_query.partition("//")
        return f"{head}//{MARK}@{rest.rpartition('@')[2]}" if found and "@" in rest else before_query
    if not parts.netloc or not (parts.scheme or depth):
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo if userinfo in _MARKS else MARK}@{host}"
    path = "/".join(MARK if secret_format(unquote(segment)) else segment for segment in parts.path.split("/"))
    shown = parts._replace(netloc=netloc, path=path, query=_redacted_pairs(parts.query, depth),
                           fragment=_redacted_pairs(parts.fragment, depth))
    return url if shown == parts else urlunsplit(shown)


def userinfo_cut_short(url: str) -> bool:
    """Whether ``url``'s password holds an unencoded ``/``, ``?`` or ``#`` that ends its host
    early (``https://u:pa/ss@host/f.csv``): what ``download`` refuses."""
    return _cut_at(url) is not None


def _cut_at(url: str) -> int | None:
    """Where the userinfo a password cut short ends in ``url`` (its ``@``), if it is one: a host
    read with a ``:`` (after the ``@`` of a password holding one too: ``u:p@ss:w/rd@host``), an
    ``@`` further on. A port that is none (``pa``) makes it so whatever follows (every client
    refuses that URL); a port (``u:123/ss@host``) unless the host is one no user name is (a
    dotted name, an address, localhost, a bracketed IPv6 one: ``cdn.example:8080/logo@2x.png``
    is that host's path), the ``@`` begins a segment (``host:8080/@team/x``) or follows a
    query's ``=`` or ``&`` (``?mail=a@b.fr``). A scheme-relative URL (``//u:pa/ss@host``, in a
    query value: ``_nested_url``) is read as one with a scheme."""
    scheme, found, rest = url.partition("//")
    if not (found and (scheme == "" or (scheme.endswith(":") and _SCHEME.fullmatch(scheme[:-1])))):
        return None
    end = (match.start() if (match := _AUTHORITY_END.search(rest)) else len(rest))
    named = rest[:end].rpartition("@")[2]  # the host and port as every client reads them
    at = rest.find("@", end)
    if ":" not in named.rpartition("]")[2] or at < 0:
        return None
    host, _, port = named.rpartition(":")
    between = rest[end:at]
    if (not port or (port.isdigit() and int(port) <= 65535)) and \
            ("]" in named or "." in host or host.lower() == "localhost"
             or between.endswith("/") or re.search(r"[=&;]", between)):
        return None
    host_end = (match.start() + at + 1 if (match := _AUTHORITY_END.search(rest, at + 1)) else len(rest))
    return len(scheme) + 2 + rest.rfind("@", at, host_end)  # the last @ before the host: one in the password too


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
            pieces[index] = f"{name}={value if value in _MARKS else MARK}"
        elif (inner := _nested_url(unquote_plus(value))) is None:
            continue
        elif depth >= NESTING:
            pieces[index] = f"{name}={MARK}"
        elif (shown := _redacted(inner, depth + 1)) != inner:
            shown = shown if unquote_plus(value) == inner else shown.removeprefix("//")
            pieces[index] = f"{name}={quote(shown, safe=':/@*<>')}"
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


def _nested_url(text: str) -> str | None:
    """The URL a query value (decoded) stands for where a redirect or a proxy would follow it: a
    ``scheme://host…`` URL, a scheme-relative ``//host…`` one (the page's scheme), or with ``//``
    before it a proxy's ``user:password@host…`` (``_BARE_AUTHORITY``; as redacted, ``MARK@host…``)."""
    if _is_url(text) or (text.startswith("//") and _is_url("x:" + text)):
        return text
    if (_BARE_AUTHORITY.fullmatch(text) and not _CLOCK.match(text)) or text.startswith(f"{MARK}@"):
        return "//" + text
    return None


def redacted_text(text: str) -> str:
    """``text`` (an error message from httpx, a redirect's) with every URL in it redacted."""
    return _URL_IN_TEXT.sub(lambda match: redacted_url(match.group()), text)


def withheld(url: str, depth: int = 0) -> bool:
    """Whether ``url`` is one ``redacted_url`` took credentials out of: fetched as it is, it
    would be refused or, worse, answered for an anonymous caller. URLs within its query values
    are looked into as deep as ``redacted_url`` looks (``NESTING``), no deeper. ``MARK`` is one
    wherever it is; ``LEGACY_MARK`` where it can stand for nothing but a secret (a value named
    as one: ``?q=***`` may be a value)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.netloc.rpartition("@")[0] in _MARKS or any(segment in _MARKS for segment in parts.path.split("/")):
        return True
    for pair in re.split(r"[&;]", parts.query) + re.split(r"[&;]", parts.fragment):
        name, equals, value = pair.partition("=")
        written = value if equals else name
        if written == MARK or (equals and written == LEGACY_MARK and secret_name(name)):
            return True
        if depth < NESTING and (inner := _nested_url(unquote_plus(written))) and withheld(inner, depth + 1):
            return True
    return False
