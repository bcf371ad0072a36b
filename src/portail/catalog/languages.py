"""Dataset languages: the codes the catalogue accepts and the EU vocabulary DCAT names them by.

A dataset's ``language`` is an ISO 639-1 code, as Opendatasoft's metadata holds it; the
exports write it as the language tag of every title, description and keyword, and as a
``dcterms:language`` of the EU "language" authority table (three-letter codes).
"""

from __future__ import annotations

#: ISO 639-1's two-letter codes: what Opendatasoft's ``language`` metadata holds, and what DCAT
#: writes as the language tag of every title, description and keyword (rdflib refuses a tag
#: that is no language's: "français" stored there broke the whole catalogue's export).
ISO_639_1 = frozenset("""
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en
    eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv
    ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne
    ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st
    su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())

#: ISO 639-1 → the EU authority table's code: the EU's official languages and France's
#: regional ones (Breton, Basque, Catalan, Corsican, Occitan).
EU_CODES = {"fr": "FRA", "en": "ENG", "de": "DEU", "es": "SPA", "it": "ITA", "nl": "NLD", "pt": "POR", "bg": "BUL",
            "cs": "CES", "da": "DAN", "el": "ELL", "et": "EST", "fi": "FIN", "ga": "GLE", "hr": "HRV", "hu": "HUN",
            "lt": "LIT", "lv": "LAV", "mt": "MLT", "pl": "POL", "ro": "RON", "sk": "SLK", "sl": "SLV", "sv": "SWE",
            "br": "BRE", "eu": "EUS", "ca": "CAT", "co": "COS", "oc": "OCI"}


def language_tag(code: str | None, fallback: str) -> str:
    """The language a dataset's texts are tagged with: its own when it is a code, else the
    portal's. A value stored before languages were checked (``français``) would make rdflib
    refuse the tag, and the whole catalogue's export with it."""
    return code if code in ISO_639_1 else fallback
