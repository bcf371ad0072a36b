"""The analyze page's chart form as the pages write it, read back for the web tests: the chart's
settings (its ``data-config``, what chart.js draws) and the options its selects offer. One reading
for every test file, so that a change of the page's markup is followed in one place."""

from __future__ import annotations

import json
import re
from html import unescape


def chart_config(html: str) -> dict:
    """The chart settings the page hands to chart.js."""
    return json.loads(unescape(re.search(r"data-config='([^']*)'", html).group(1)))


def select_options(html: str, name: str) -> list[str]:
    """The values the form's select ``name`` offers, in its order."""
    select = re.search(rf'<select id="[^"]+" name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


def selected_value_field(html: str) -> str | None:
    """The option the chart form's value field select shows chosen."""
    select = re.search(r'<select id="c-yfield"[^>]*>(.*?)</select>', html, re.S).group(1)
    chosen = re.search(r'<option value="([^"]*)" selected>', select)
    return chosen.group(1) if chosen else None
