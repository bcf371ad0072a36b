"""The filter bar's search form as the pages write it, read back for the web tests: one reading
for every test file, so that a change of the form's markup is followed in one place."""

from __future__ import annotations

import re
from html import unescape


def search_form(html: str) -> list[tuple[str, str]]:
    """The filter bar's search form's hidden fields, as it sends them."""
    form = re.search(r'<form method="get" role="search" class="search".*?</form>', html, re.S).group(0)
    return [(unescape(k), unescape(v)) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form)]
