"""Signing in and out of the pages as a browser's forms send them, for the page tests: the
header's links, the sign-in form (as ``lectrice``, whose password is ``PASSWORD``) and the
"Sign out" form. Kept here rather than in one test file, so that a test file imports no other
test file."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient

PASSWORD = "Correct-horse-42"


def link(html: str, element_id: str) -> str:
    """Where the page's link ``element_id`` (the header's ``sign-in``…) leads, as a browser reads it."""
    return unescape(re.search(rf'<a href="([^"]*)" id="{element_id}">', html).group(1))


def sign_in(client: TestClient, link_url: str) -> str:
    """Sign in on the page ``link_url`` opens, as its form sends it; where the portal goes next."""
    html = client.get(link_url).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    action = unescape(re.search(r'<form method="post" action="([^"]*)"', html).group(1))
    next_path = unescape(re.search(r'name="next" value="([^"]*)"', html).group(1))
    answer = client.post(action, data={"login": "lectrice", "password": PASSWORD, "csrf_token": token,
                                       "next": next_path}, follow_redirects=False)
    assert answer.status_code == 303
    return answer.headers["location"]


def sign_out(client: TestClient, page: str) -> str:
    """Send ``page``'s "Sign out" form as a browser would; where the portal goes next."""
    form = re.search(r'<form class="signout" method="post" action="([^"]*)">\s*'
                     r'<input type="hidden" name="csrf_token" value="([^"]+)">', client.get(page).text)
    answer = client.post(unescape(form.group(1)), data={"csrf_token": form.group(2)}, follow_redirects=False)
    assert answer.status_code == 303
    return answer.headers["location"]
