"""Text written into XML by hand (RDF/XML, GPX and KML waypoints, RSS and Atom feeds).

Records hold any text, and XML 1.0 cannot hold most control characters, lone surrogates nor
U+FFFE/U+FFFF at all, even escaped: one such character makes the whole file unreadable. They
become U+FFFD, a visible mark that something was there. A carriage return is kept as a
character reference, which a parser would otherwise read as a newline.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` as element content."""
    return escape(NOT_XML.sub("\ufffd", text), {"\r": "&#13;"})


def xml_attribute(text: str) -> str:
    """``text`` as a quoted attribute value."""
    return quoteattr(NOT_XML.sub("\ufffd", text))
