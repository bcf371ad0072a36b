"""The one rule for what an email address looks like, wherever one is stored.

Accounts (``auth.services``, an SSO claim in ``auth.oidc``) and a dataset's ``contact_email``
(``catalog.services``) check addresses alike. It lives here, outside both packages, because
``auth`` already imports ``catalog`` (its models): ``catalog`` importing ``auth`` back would
make a cycle.
"""

from __future__ import annotations

import re

#: An address's shape (one @, a dotted domain, no spaces): a typo caught when the address is
#: given, not when a message bounces. Deliverability is the mail server's to tell.
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")

#: What a refusal shows as a valid address.
EXAMPLE = "jeanne.martin@example.org"


def plausible_email(email: object) -> bool:
    """Whether ``email`` is a text with an address's shape (an SSO claim may be anything)."""
    return isinstance(email, str) and len(email) <= 254 and EMAIL.fullmatch(email) is not None
