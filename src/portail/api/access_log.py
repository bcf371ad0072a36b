"""The server's access log, without the secrets some clients put in URLs.

Opendatasoft lets callers send an API key as ``?apikey=`` and an OAuth2 token as
``?access_token=`` (odsclient and widgets do); uvicorn's access log writes every request line in
full, so log files would hold working credentials. ``RedactSecrets`` masks their values;
``log_config()`` is uvicorn's logging configuration with it on the access handler (a dictionary,
so each worker process applies it too).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from portail.auth.principal import APIKEY_PARAMETER, TOKEN_PARAMETER

#: Query parameters whose values are credentials: those ``auth.principal`` reads.
SECRET_PARAMETERS = frozenset({APIKEY_PARAMETER, TOKEN_PARAMETER})
_PARAMETER = re.compile(r"([?&;])([^=&#\s]*)=([^&#\s]*)")


def redact(text: str) -> str:
    """``text`` with the value of every credential parameter replaced by ``***``: its name read
    as the server reads it (``access%5Ftoken`` is ``access_token``), in any case."""
    def masked(match: re.Match) -> str:
        separator, name, value = match.groups()
        return f"{separator}{name}=***" if unquote_plus(name).lower() in SECRET_PARAMETERS else match.group(0)

    return _PARAMETER.sub(masked, text)


class RedactSecrets(logging.Filter):
    """Masks credentials in uvicorn's access records (their path is the third argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], redact(record.args[2]), *record.args[3:])
        return True


def log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": "portail.api.access_log.RedactSecrets"}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    return config
