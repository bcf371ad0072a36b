"""Pages: home, catalogue (search, facets, sort, pagination, state in the URL), dataset page
with Opendatasoft-style tab URLs (``/explore/dataset/<id>/information/``, ``…/table/``,
``…/map/``, ``…/analyze/``, ``…/export/``, ``…/api/``) so links to a portal migrated from
Opendatasoft keep working. The tabs share one filter state in the URL (``web.filters``).

Every URL is built under the portal's prefix (``/`` or ``/interne/``), so the same router
serves each portal. The caller (``request_principal``) goes to every service call: a page
never shows more than the API would show the same caller. The map, chart and console tabs
draw with small scripts of ours (``static/*.js``) that call the Explore API with the same
filters; their libraries load on their tab only, and a missing library leaves a message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from portail.api.deps import login_url, request_principal
from portail.api.errors import ApiError
from portail.api.explore import with_qv1
from portail.api.explore_service import (dataset_facets, get_record, get_visible_dataset, known_access,
                                         query_records, visible_datasets)
from portail.api.facets import facetable
from portail.api.serialize import markdown
from portail.auth import Principal
from portail.catalog.services import MAX_DECIMALS, is_web_url
from portail.exports import FORMATS
from portail.odsql.ast import quote_name
from portail.schema import Field, FieldType, fields_from_json, normalize_name
from portail.web import catalogue as cat
from portail.web.filters import FilterState
from portail.web.i18n import (MAPLIBRE, STRINGS, format_date, format_datetime, format_number, language, month_name,
                              page_date, plural)
from portail.web.refusals import refusal

STATIC = Path(__file__).parent / "static"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
PAGE_SIZE = 20
TABLE_PAGE = 25
TABS = ("information", "table", "map", "analyze", "export", "api")
FACET_TYPES = (FieldType.TEXT, FieldType.DATE, FieldType.DATETIME, FieldType.BOOLEAN)
DATE_TYPES = (FieldType.DATE, FieldType.DATETIME)
MAX_FACETS = 8
#: Geometries: the table offers no sort on them, and a sort on one in a URL is dropped.
UNSORTABLE = (FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE)
API = "/api/explore/v2.1"
# A description as plain text (catalogue results): Markdown rendered, then its tags dropped.
TEMPLATES.env.filters["plain"] = lambda text: Markup(markdown().render(text or "")).striptags()
# A cell's value as people read it: a multivalued field's values listed (Python wrote ['a', 'c']).
def structured(value: Any) -> bool:
    """An object, or a list holding one (a json field's value, DECP's ``titulaires``)."""
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value))


def shown(value: Any) -> Any:
    """A cell as text: a list of values joined, a structured value as JSON with its accents
    (Python's repr showed ``{'nom': 'SDIS'}``, Jinja's ``tojson`` escapes ``é`` as ``\\u00e9``)."""
    if structured(value):
        return json.dumps(value, ensure_ascii=False)
    return ", ".join(map(str, value)) if isinstance(value, list) else value


def year_like(name: str) -> bool:
    """A field named for a year (``annee``, ``year``): the chart's first X axis when the schema
    names none, and a table cell written ``2023``, not ``2 023``."""
    return any(w in name.lower() for w in ("annee", "year"))


def grouped(field: Field, value: int) -> bool:
    """Is a whole number of ``field`` written with thousands separators? Not one of four digits
    or fewer (French typography groups from five; a year ``1951``, a legal category ``5710``, a
    street number), nor a year's or an identifier's (``id_livraison`` 2000011 is a key people
    copy, not a quantity)."""
    words = set(field.name.lower().replace("-", "_").split("_"))
    return abs(value) >= 10_000 and not (year_like(field.name) or words & {"id", "identifiant"})


def number_format(field: Field) -> tuple[str | None, int | None]:
    """A number field's ``unit`` and ``decimals`` annotations, as its publisher set them
    (``unit=€``, ``decimals=2``); ``None`` for either not set, or not usable (``decimals=deux``)."""
    if field.type not in (FieldType.INT, FieldType.DOUBLE):
        return None, None
    unit = next((str(a).strip() for a in field.annotations.get("unit") or [] if str(a).strip()), None)
    written = next((str(a).strip() for a in field.annotations.get("decimals") or [] if str(a).strip().isdecimal()), None)
    if written is None:
        return unit, None
    # at most MAX_DECIMALS, read without int() of thousands of digits (a ValueError, a 500 on the
    # pages): a value stored before annotations' values were checked (``check_annotation``)
    return unit, min(int(written), MAX_DECIMALS) if len(written.lstrip("0")) <= 2 else MAX_DECIMALS


def number_text(value: int | float, field: Field, lang: str) -> str:
    """A number of ``field`` as the pages write it: ``decimals`` digits after the separator when
    the publisher set them, else as ``grouped`` says, and its ``unit`` after a no-break space, as
    Opendatasoft's pages show them: ``80 000 €``, ``1 234,50 €`` (``1,234.50 €`` in English)."""
    unit, decimals = number_format(field)
    if decimals is not None or field.type == FieldType.DOUBLE or grouped(field, value):
        text = format_number(value, lang, decimals)
    else:
        text = str(value)
    return f"{text}\u00a0{unit}" if unit else text


def number_formats(fields: list[Field]) -> dict[str, dict[str, Any]]:
    """How each number field's values are written, for the map's popups and legend and the
    chart's values (``static/numbers.js``), as ``number_text`` writes the cells: ``unit`` and
    ``decimals`` as annotated, ``group_from`` from what size a whole number is grouped
    (``grouped``'s rule, which reads the field's name: a year's never)."""
    formats = {}
    for f in fields:
        if f.type in (FieldType.INT, FieldType.DOUBLE):
            unit, decimals = number_format(f)
            group_from = 0 if f.type == FieldType.DOUBLE else 10_000 if grouped(f, 10_000) else None
            formats[f.name] = {"unit": unit, "decimals": decimals, "group_from": group_from}
    return formats


def cell(value: Any, field: Field, lang: str, zone: str = "Europe/Paris") -> Markup | Any:
    """A table or record cell as people read it in the page's language: a number ``12 345,5``
    (``12,345.5``), a date ``4 mai 2023``, an instant with its time, as the page writes its own
    counts and dates (``number``, ``date``), the stored value kept in the element's machine-readable
    attribute (``<data value>``, ``<time datetime>``) for whoever copies or reads it. Chosen by the
    field's type, never by the look of the value: a text field (an INSEE code ``01001``, a SIREN)
    keeps its exact characters. An instant is read in ``zone``, the dataset's time zone (its
    ``timezone`` metadata), as its publisher and readers count hours: 13:45 UTC is 15:45 CEST
    in Paris. Anything else, or a value that does not parse, is ``shown`` as is."""
    if field.type == FieldType.BOOLEAN and isinstance(value, bool):
        return STRINGS[lang if lang in STRINGS else "fr"]["yes" if value else "no"]
    if field.type in (FieldType.INT, FieldType.DOUBLE) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return Markup('<data value="{}">{}</data>').format(value, number_text(value, field, lang))
    if field.type in DATE_TYPES and isinstance(value, str):
        try:
            if field.type == FieldType.DATE:
                text, stored = format_date(date.fromisoformat(value), lang), value
            else:  # stored in UTC, whatever the zone the page's query asked the API to write it in
                moment = _aware(datetime.fromisoformat(value))
                text, stored = format_datetime(moment.astimezone(_zone(zone)), lang), moment.astimezone(UTC).isoformat()
        except ValueError:  # not the API's ISO text: shown as stored rather than guessed at
            return value
        return Markup('<time datetime="{}">{}</time>').format(stored, text)
    return shown(value)


def _aware(moment: datetime) -> datetime:
    """An instant without an offset is UTC, as the API stores and writes instants (read as the
    server's local time, it moved with the machine)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):  # a metadata value no zone has: the portal's default
        return ZoneInfo("Europe/Paris")


def zone_names(name: str) -> dict[str, Any]:
    """The dataset's time zone as the map's popups write instants in it (``numbers.js``
    ``portailMoment``, as ``cell`` does): its name (``_zone``'s, the default for an unknown one)
    and its abbreviations by UTC offset in minutes (``{60: "CET", 120: "CEST"}``), which the
    browser's Intl does not give (it writes ``UTC+1``); each offset's name of recent years."""
    zone = _zone(name)
    names = {}
    for year in range(1970, 2040):
        for month in (1, 7):
            moment = datetime(year, month, 1, 12, tzinfo=zone)
            names[int(moment.utcoffset().total_seconds()) // 60] = moment.tzname()
    return {"name": zone.key, "names": names}


def instants_zone(dataset, fields: list[Field]) -> str | None:
    """The zone the page cuts instants in into days, months and years (its facets, its
    refinements, the chart's buckets, the filtered exports): the dataset's, in which its table
    writes them (``cell``), when it has an instant. The API's default, UTC, put a record of
    00:30 in Paris, written so in the table, under the day before in the facets and the chart.
    ``None`` without an instant (a date has no zone): the API's URLs stay as they were."""
    return _zone(dataset.timezone).key if any(f.type == FieldType.DATETIME for f in fields) else None


TEMPLATES.env.filters["shown"] = shown
TEMPLATES.env.tests["structured"] = structured
#: ``{% if url is web_url %}``: what a page may link to, by the catalogue's own rule.
TEMPLATES.env.tests["web_url"] = lambda url: bool(url) and is_web_url(url)


def vendor_available(name: str) -> bool:
    """Is a third-party browser build installed (``make install`` copies it from npm)?"""
    return (STATIC / "vendor" / name).is_file()


def page_language(request: Request) -> str:
    """The language of the page ``request`` asks: ``?lang=``, then the browser's."""
    return language(request.query_params.get("lang"), request.headers.get("accept-language"))


def return_paths(request: Request, root: str, next_path: str | None) -> tuple[str, str]:
    """Where "Sign in" and "Sign out" bring the reader back: the page they were on (its path and
    query, the language in it), as the login page's SSO button does; both led to the portal's
    home. On the login page, its own ``next_path``; after a form's POST (an error page at a
    path with no GET), the home. Signing out of a page only a session opens (the account
    page) lands on the home, not on the sign-in form it would send a visitor to."""
    home = root + "/"
    here = next_path or (request.url.path + (f"?{request.url.query}" if request.url.query else "")
                         if request.method == "GET" else home)
    private = here.split("?")[0].startswith((f"{root}/account", f"{root}/oauth2/"))
    return here, home if private else here


def _context(request: Request, portal: str, **values) -> dict:
    lang = page_language(request)
    settings = request.app.state.instance.settings
    try:
        branding = settings.portal(portal)
        root, title = branding.root, branding.title
    except KeyError:
        branding, root, title = None, "", settings.portal_title
    other = "en" if lang == "fr" else "fr"
    sign_in_next, sign_out_next = return_paths(request, root, values.get("next"))
    return {"request": request, "t": STRINGS[lang], "lang": lang, "root": root, "api": root + API,
            "sign_in_next": sign_in_next, "sign_out_next": sign_out_next,
            "switch_lang": str(request.url.include_query_params(lang=other)), "portal_title": title,
            "logo_url": branding.logo_url if branding else None,
            "primary_color": branding.primary_color if branding else None,
            "portal_description": branding.description if branding else "",
            "private_portal": branding is not None and branding.policy == "private",
            "number": lambda v: format_number(v, lang), "plural": lambda key, n: plural(key, n, lang),
            "date": lambda v: page_date(v, lang),
            "cell": lambda v, f: cell(v, f, lang, values["dataset"].timezone if values.get("dataset") else "Europe/Paris"),
            "filter_value": lambda name, v: filter_value(v, name, values.get("fields") or [], lang), **values}


def _portal_of_path(request: Request):
    """The portal whose prefix the request's path is under (the longest that matches)."""
    portals = sorted(request.app.state.instance.settings.portals, key=lambda p: -len(p.root))
    return next((p for p in portals if not p.root or request.url.path == p.root
                 or request.url.path.startswith(p.root + "/")), portals[-1])


def refused_form_page(request: Request) -> HTMLResponse:
    """The 403 of a form whose CSRF token did not come back (``api.guard``), as a page in the
    visitor's language rather than JSON: the form had expired, or the browser dropped the
    cookie holding the token, which it does over plain HTTP when cookies are Secure (the
    default) and the site is not on this machine; the page then says the operator's fix."""
    portal = _portal_of_path(request)
    context = _context(request, portal.id)
    t = context["t"]
    insecure = request.url.scheme == "http" and request.app.state.instance.settings.session_cookie_secure \
        and request.url.hostname not in ("127.0.0.1", "localhost", "::1")
    context.update(status=403, message=t["form_expired"] + (" " + t["form_insecure"] if insecure else ""))
    return TEMPLATES.TemplateResponse(request, "error.html", context, status_code=403)


def missing_page(request: Request) -> HTMLResponse | RedirectResponse:
    """The 404 page of a path no route serves, in the portal whose prefix it is under (a private
    portal sends a visitor to its sign-in page first, as for any of its pages)."""
    portal = _portal_of_path(request)
    principal = getattr(request.state, "principal", None)
    if portal.private and not (principal is not None and principal.is_authenticated):
        return RedirectResponse(login_url(portal, request), status_code=303)  # as every page of it does
    context = _context(request, portal.id)
    context.update(status=404, message=context["t"]["page_not_found"])
    return TEMPLATES.TemplateResponse(request, "error.html", context, status_code=404)


def page_number(text: str, last: int) -> int:
    """The page a URL asks, between 1 and ``last``: not a number is the first page, a number past
    the last (however many digits: Python refuses to read over 4,300) is the last."""
    if not text.isdecimal():
        return 1
    return last if len(text) > len(str(last)) else min(max(int(text), 1), last)


def without_empty(request: Request) -> RedirectResponse | None:
    """The same page without the URL's empty parameters, or ``None`` when it has none: a GET form
    sends every field, so without a script the search box left empty wrote ``q=`` and the chart's
    "Series: none" ``chart.series=`` into the address (and every link shared from it). An empty
    value means what its absence means on these pages (no search, no series, page 1), so the
    reader lands on the short address, the others kept in their order."""
    items = request.query_params.multi_items()
    kept = [(k, v) for k, v in items if v != ""]
    if len(kept) == len(items):
        return None
    return RedirectResponse(request.url.path + (f"?{urlencode(kept)}" if kept else ""), status_code=307)


def facet_fields(fields: list[Field]) -> list[Field]:
    """The table's facets: the publisher's ``facet`` annotations, else the first text, date and
    boolean fields (``_useful`` drops those with about one record per value once counted)."""
    annotated = [f for f in fields if "facet" in f.annotations and facetable(f)]
    return annotated or [f for f in fields if f.type in FACET_TYPES][:MAX_FACETS]


def preferred_x(fields: list[Field]) -> str | None:
    """The chart's first X axis when the schema names one: a field the publisher annotated as a
    facet, else a date, else a year-like field (``annee``, ``year``)."""
    for f in fields:
        if "facet" in f.annotations:
            return f.name
    for f in fields:
        if f.type in DATE_TYPES:
            return f.name
    return next((f.name for f in fields if year_like(f.name)), None)


#: Words of a number field's name or label that make it a key, a code, a position or a year rather
#: than a quantity to sum or average (``id_programme``, ``code_insee``, ``lat``, ``coord_x_l93``),
#: and parts of words that do so inside names written as one word (``numerovoieetablissement``,
#: ``categoriejuridiqueunitelegale``, ``anneeeffectifs``).
NOT_MEASURE_WORDS = frozenset({"id", "identifiant", "code", "num", "numero", "no", "rang", "lat", "lng", "lon",
                               "latitude", "longitude", "x", "y"})
NOT_MEASURE_PARTS = ("annee", "year", "code", "numero", "identifiant", "categorie", "coord", "siren", "siret",
                     "insee")
#: Annotations that make a number field a key (``id``), a time (``timeserie_precision``) or a
#: category the publisher filters by (``facet``: the logements' ``annee``, ``arrdt``).
NOT_MEASURE_ANNOTATIONS = frozenset({"id", "timeserie_precision", "facet"})
#: Whole numbers all within these bounds read as years (a ``generation`` of 1950 to 1960).
YEARS = (1800, 2100)


def measure_named(field: Field) -> bool:
    """Do a number field's name, label and annotations let it be a measure (a quantity to sum or
    average), not an id, a code, a position or a year? Both name and label are read: a field
    ``an`` labelled ``Année``."""
    return not (NOT_MEASURE_ANNOTATIONS & field.annotations.keys() or code_named(field))


def code_named(field: Field) -> bool:
    """Is a field named (its name or label) as an id, a code, a position or a year, whatever its
    type? The chart's X axis passes such text fields over too (``name_like``)."""
    for text in (normalize_name(field.name), normalize_name(field.label or "")):
        if NOT_MEASURE_WORDS & set(text.split("_")) or any(part in text for part in NOT_MEASURE_PARTS):
            return True
    return False


def years_valued(low: Any, high: Any) -> bool:
    """Are a whole-number field's lowest and highest values those of years?"""
    return isinstance(low, int) and isinstance(high, int) and YEARS[0] <= low <= high <= YEARS[1]


#: Whole numbers read as codes of categories (the COG's ``tncc``, 0 to 8; its ``mod``, 10 to 72):
#: at most this many distinct values, each from 0 to below ``CATEGORY_BOUND``, each used on
#: ``CATEGORY_REPEATS`` records or more on average (a dozen small counts of a dozen rows stay measures).
CATEGORY_VALUES = 20
CATEGORY_BOUND = 100
CATEGORY_REPEATS = 3


def categories(low: Any, high: Any, distinct: Any, records: Any) -> bool:
    """Are a whole-number field's values (its lowest, highest, how many distinct, over how many
    records) a few small codes used as categories rather than quantities? A sum of ``tncc`` (the
    kind of article of a commune's name) means nothing."""
    if not all(isinstance(v, int) for v in (low, high, distinct, records)):
        return False
    return 0 <= low <= high < CATEGORY_BOUND and distinct <= CATEGORY_VALUES and records >= CATEGORY_REPEATS * distinct


CHART_TYPES = ("column", "bar", "line", "area", "pie", "scatter")
CHART_BUCKETS = ("year", "month", "day")
CHART_AGGREGATES = ("count", "sum", "avg", "min", "max")
SERIES_TYPES = (FieldType.TEXT, FieldType.BOOLEAN, FieldType.INT)


def chart_aggregates(numeric: list[Field]) -> tuple[str, ...]:
    """The Y values the chart form offers: a sum, mean, minimum or maximum is of a numeric field,
    so a dataset without one offers the count alone (``chart.js`` would draw a count labelled a sum)."""
    return CHART_AGGREGATES if numeric else ("count",)


def chart_settings(params: Mapping[str, str], numeric: list[Field], groupable: list[Field],
                   measure: str | None) -> dict[str, str]:
    """The chart form's ``chart.*`` URL parameters, each one the form offers or its default
    (``x``: empty, for the caller to choose). ``chart.js`` writes them into the API query it
    sends: an edited or stale link would otherwise draw nothing but the API's English refusal
    (unknown field or function); a value the form does not offer is dropped, as a stale sort is.
    ``measure``: the numeric field a sum, mean… is of when the URL names none (``default_measure``)."""
    def offered(name: str, choices, default: str) -> str:
        value = params.get(name, default)
        return value if value in choices else default

    y = offered("chart.y", chart_aggregates(numeric), "count")
    yfield = offered("chart.yfield", {f.name for f in numeric}, (measure or "") if y != "count" else "")
    # A sum asked without its field is of the measure the form's select shows; without a measure
    # (only years, ids, codes), a count: a sum of years or of ids means nothing.
    return {"type": offered("chart.type", CHART_TYPES, "column"),
            "x": offered("chart.x", {f.name for f in groupable}, ""),
            "bucket": offered("chart.bucket", CHART_BUCKETS, "year"), "y": y if yfield else "count",
            "yfield": yfield,
            "series": offered("chart.series", {f.name for f in groupable if f.type in SERIES_TYPES}, "")}


def few_valued(facets: list[dict], total: int) -> list[str]:
    """The facet fields whose listed (most frequent) values repeat and hold at least half of the
    ``total`` records: grouping by an id (``insee_com``) or a name draws thousands of small bars,
    cut off at the chart's group limit, and a mostly empty field draws mostly nothing. A table
    of 101 départements listed 100 of its codes, half its records, each once: one bar a record."""
    return [f["name"] for f in repeated(facets) if 2 * sum(v["count"] for v in f["facets"]) >= total]


def repeated(facets: list[dict]) -> list[dict]:
    """The facets whose listed values are each on two records or more on average (``_useful``'s
    rule): a field of one value per record (an id, a former INSEE code) groups nothing."""
    return [f for f in facets
            if len(f["facets"]) > 1 and sum(v["count"] for v in f["facets"]) >= 2 * len(f["facets"])]


def most_repeated(facets: list[dict]) -> str | None:
    """The facet field whose listed values repeat most (records per value), when none has few
    values: the current commune of ``ref-commune-successeurs`` (its former codes counted), not
    the former code, one record each."""
    return max(repeated(facets), key=lambda f: sum(v["count"] for v in f["facets"]) / len(f["facets"]),
               default={}).get("name")


def name_like(fields: list[Field]) -> str | None:
    """The first text field not named as a key or a code (``code``, ``insee``, ``id``…): when
    every value is on one record (the regions' contours), bars named ``Bretagne`` rather than
    ``53``."""
    return next((f.name for f in fields if f.type == FieldType.TEXT and not code_named(f)), None)


def restriction(request: Request, dataset, principal: Principal) -> str | None:
    """What the signed-in caller's rights hold back of ``dataset``, for the page's notice:
    ``"rows"`` (a record filter of one of their groups), ``"columns"`` (hidden fields), ``"both"``
    or ``None``. Asked of ``known_access``, the API's own answer (``auth.security_for``), so the
    notice and the queries never disagree (and the page's dataset already holds it: no second
    catalogue read); only whether a rule applies, never its text."""
    if not principal.is_authenticated:
        return None
    security = known_access(request.app.state.instance, dataset, principal).security
    rows, columns = security.row_filter is not None, bool(security.hidden_fields)
    return "both" if rows and columns else "rows" if rows else "columns" if columns else None


def closed_records(request: Request, dataset, principal: Principal) -> str | None:
    """Why the caller may read the metadata of ``dataset`` but none of its records: ``"sign_in"``
    (anonymous: credentials may open them), ``"denied"`` (signed in, not granted) or ``None``.
    The records tabs said "Invalid filter:" over the API's English 401 (its API key and header),
    and the export tab offered "Whole dataset (0 records)" with links that answer 401."""
    if known_access(request.app.state.instance, dataset, principal).records:
        return None
    return "denied" if principal.is_authenticated else "sign_in"


def _useful(facet: dict, state: FilterState) -> bool:
    values = facet["facets"]
    if any(state.refined(facet["name"], v["value"]) or state.excluded(facet["name"], v["value"]) for v in values):
        return True
    # A field with (nearly) one value per record, such as an id or an address, is no filter.
    return len(values) > 1 and sum(v.get("count", 0) for v in values) >= 2 * len(values)  # excluded: no count


def _chronological(values: list[dict], lang: str) -> list[dict]:
    """A date facet's years, months and days, every level listed, each month named in the page's
    language (the API names it ``03``; its value ``2023/03`` stays the link's), in the API's order:
    calendar order by default (``facets.annotated_sort``), re-sorted here it overrode a field's
    ``facetsort`` annotation (``-count``: the busiest years first), which the API honours."""
    return [{**v, "name": _facet_month(v, lang), "facets": _chronological(v.get("facets") or [], lang), "all": True}
            for v in values]


def filter_value(value: str, name: str, fields: list[Field], lang: str) -> str:
    """A refinement as its chip reads: a date field's ``2023/03`` is ``mars 2023`` and
    ``2023/03/04`` ``4 mars 2023``, as its facet names them; a number field's value as its cells
    write it (``80 000 €``, ``12 345``), annotated or not: the API reads the number, so ``1e3``
    and ``1000.0`` are the same refinement and read alike; any other value as sent."""
    field = next((f for f in fields if f.name == name), None)
    if field is not None and field.type in (FieldType.INT, FieldType.DOUBLE):
        return _numeric_name(value, field, lang)
    if field is None or field.type not in DATE_TYPES:
        return value
    parts = value.split("/")
    try:
        if len(parts) == 2:
            return f"{month_name(int(parts[1]), lang)} {int(parts[0])}" if 1 <= int(parts[1]) <= 12 else value
        if len(parts) == 3:
            return format_date(date(*map(int, parts)), lang)
    except ValueError:  # not a date path (the API says so on the page): shown as sent
        pass
    return value


def _numeric_name(value: str, field: Field, lang: str) -> str:
    """A number sent as text (a facet value, a refinement) as ``number_text`` writes it, or as
    sent when it is no number of the field as the API reads one (``facets._typed_value``: an
    integer's digits; a finite float), which the API refuses and the page says so."""
    try:
        number = int(value) if field.type == FieldType.INT else float(value)
    except ValueError:
        return value
    readable = -2**127 <= number < 2**127 if isinstance(number, int) else math.isfinite(number)
    return number_text(number, field, lang) if readable else value


def _facet_month(value: dict, lang: str) -> str:
    """``mars`` for the month value ``2023/03`` of a date facet; any other level keeps its name."""
    parts = value["value"].split("/")
    if len(parts) == 2 and parts[1].isdecimal() and 1 <= int(parts[1]) <= 12:
        return month_name(int(parts[1]), lang)
    return value["name"]


def web_router(portal: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def instance(request: Request):
        return request.app.state.instance

    def portal_root(request: Request) -> str:
        try:
            return instance(request).settings.portal(portal).root
        except KeyError:
            return ""

    def render(request: Request, template: str, status: int = 200, **values) -> HTMLResponse:
        # the status in the page too: an unknown dataset's 404 was titled "Erreur", a missing page's "Page introuvable"
        return TEMPLATES.TemplateResponse(request, template, _context(request, portal, status=status, **values),
                                          status_code=status)

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request):
        datasets = visible_datasets(instance(request), portal, request_principal(request))
        # Reference datasets (the hub) are in the catalogue, not in the news of the home page.
        news = [d for d in datasets if not (d.extra_metas or {}).get("reference")]
        latest = sorted(news, key=lambda d: d.modified, reverse=True)[:6]
        largest = sorted(news, key=lambda d: d.records_count or 0, reverse=True)[:6]
        themes = cat.search(datasets, "", {}, "").facets["theme"]
        return render(request, "home.html", themes=sorted(themes), latest=latest, largest=largest, total=len(datasets),
                      records=sum(d.records_count or 0 for d in datasets))

    @router.get("/explore", response_class=HTMLResponse)
    @router.get("/explore/", response_class=HTMLResponse)
    def catalogue(request: Request, q: str = "", sort: str = "", page: str = "1"):
        if shortened := without_empty(request):
            return shortened
        refine: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            name = key.removeprefix("refine.") if key.startswith("refine.") else ("theme" if key == "theme" else None)
            if name in cat.FACETS and value:
                refine.setdefault(name, []).append(value)
        # an unknown sort is the default order, as an unknown facet or page is ignored (not a 400)
        default = cat.default_sort(q)
        sort = sort if sort in cat.sorts(q) else default
        datasets = visible_datasets(instance(request), portal, request_principal(request))
        try:
            found, error = cat.search(datasets, q, refine, sort), None
        except ApiError as refused:  # a search box the API refuses (``title:``, an open parenthesis): say why
            found = cat.search([], "", refine, sort)  # nothing found; the refinements stay listed, to remove
            error = refusal(refused.message, page_language(request))
        pages = max(1, -(-len(found.datasets) // PAGE_SIZE))
        number = page_number(page, pages)
        lang = request.query_params.get("lang")

        def url(drop: tuple[str, str] | None = None, add: tuple[str, str] | None = None, **changes) -> str:
            pairs = [("q", q)] + [(f"refine.{k}", v) for k, vs in refine.items() for v in vs if (k, v) != drop]
            pairs += [(f"refine.{add[0]}", add[1])] if add else []
            pairs += [("sort", changes.get("sort", sort)), ("page", str(changes.get("page", 1))), ("lang", lang or "")]
            kept = [(k, v) for k, v in pairs if v and not (k == "sort" and v == default) and not (k == "page" and v == "1")]
            return f"{portal_root(request)}/explore/" + ("?" + urlencode(kept) if kept else "")

        title = cat.title_parts(page_language(request), q, sum(map(len, refine.values())), number,
                                len(found.datasets), error is not None)
        return render(request, "catalogue.html", status=400 if error else 200, q=q, refine=refine, sort=sort,
                      sorts=cat.sorts(q), default_sort=default, facets=found.facets, error=error, title_parts=title,
                      results=found.datasets[(number - 1) * PAGE_SIZE: number * PAGE_SIZE], count=len(found.datasets),
                      page=number, pages=pages, url=url)

    @router.get("/explore/dataset/{dataset_id}/")
    @router.get("/explore/dataset/{dataset_id}")
    def dataset_root(request: Request, dataset_id: str):
        query = f"?{request.url.query}" if request.url.query else ""
        try:  # a renamed dataset's former id goes to its page in one permanent redirect, not two
            slug = get_visible_dataset(instance(request), portal, dataset_id, request_principal(request)).slug
        except ApiError:  # the information page says what is wrong
            slug = dataset_id
        return RedirectResponse(f"{portal_root(request)}/explore/dataset/{slug}/information/{query}",
                                status_code=301 if slug != dataset_id else 307)

    @router.get("/explore/dataset/{dataset_id}/{tab}/", response_class=HTMLResponse)
    def dataset_page(request: Request, dataset_id: str, tab: str):
        if shortened := without_empty(request):
            return shortened
        principal = request_principal(request)
        try:
            dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        except ApiError as error:  # in the page's language, as a refused filter ("Unknown dataset" on a French page)
            message = refusal(error.message, page_language(request))
            return render(request, "error.html", status=error.status, message=message)
        query = f"?{request.url.query}" if request.url.query else ""
        if tab not in TABS:  # its filters and language kept, as a former id's redirect keeps them
            return RedirectResponse(f"{portal_root(request)}/explore/dataset/{dataset.slug}/information/{query}")
        if dataset.slug != dataset_id:  # a former id of a renamed dataset: the page's address now
            return RedirectResponse(f"{portal_root(request)}/explore/dataset/{dataset.slug}/{tab}/{query}", status_code=301)
        fields = fields_from_json(dataset.current.fields)  # the caller's: hidden fields are gone
        columns = [f for f in fields if f.type != FieldType.GEO_SHAPE]  # the table's, offered in its chooser
        asked = FilterState.from_query(request.query_params.multi_items())
        state = asked.sorted_within(f.name for f in fields if f.type not in UNSORTABLE).shown_within(f.name for f in columns)
        geo = next((f for f in fields if f.type == FieldType.GEO_POINT_2D), None) or \
            next((f for f in fields if f.type == FieldType.GEO_SHAPE), None)
        values = {"dataset": dataset, "fields": fields, "tab": tab, "tabs": TABS, "state": state, "geo": geo,
                  "description_html": markdown().render(dataset.description or ""), "error": None,
                  "labels": {f.name: f.label for f in fields}, "columns": columns, "units": number_formats(fields),
                  "shown": [f for f in columns if state.shows(f.name)],
                  "restricted": restriction(request, dataset, principal),
                  # a sort the table cannot apply (no such column, one hidden from the caller, a
                  # geometry), told rather than silently the default order; named as asked, the
                  # same words whichever it is, so the notice never tells that a hidden column exists
                  "sort_dropped": asked.sort.lstrip("-") if asked.sort.lstrip("-") and not state.sort else None,
                  # each field's type, for the chart's and the map's scripts to write values as the table does
                  "field_types": json.dumps({f.name: str(f.type) for f in fields})}
        if tab != "information" and (closed := closed_records(request, dataset, principal)):
            return render(request, "dataset.html", status=403 if closed == "denied" else 401, closed=closed, **values)
        try:
            values.update(_tab_values(request, dataset, fields, tab, state, geo))
        except ApiError as error:  # a bad refine/sort/q in the URL: say so, in the page's language; keep the page
            values.update(error=refusal(error.message, page_language(request)), total=0, rows=[], facets=[], pages=1,
                          page=1, formats=[], record=None)
            return render(request, "dataset.html", status=error.status, **values)
        return render(request, "dataset.html", **values)

    def default_x(request: Request, dataset, fields: list[Field], total: int, common: dict) -> str:
        """The chart's first X axis when the schema names none: the first text or boolean field
        with few values, as the facets count them under the page's filters; else the one whose
        values repeat most; else a name (``name_like``); else the first field. Never, while
        another will do, a field of one value per record: ``ref-commune-successeurs`` drew 1,000
        bars of one former INSEE code each."""
        texts = [f.name for f in fields if f.type in (FieldType.TEXT, FieldType.BOOLEAN)][:MAX_FACETS]
        facets = dataset_facets(instance(request), dataset, facet=texts, principal=request_principal(request),
                                **common) if texts else []
        return next(iter(few_valued(facets, total)), None) or most_repeated(facets) or name_like(fields) \
            or (fields[0].name if fields else "")

    def default_measure(request: Request, dataset, numeric: list[Field]) -> str | None:
        """The numeric field the chart sums or averages when none is chosen: the first one that is
        a measure by its name, label and annotations (``measure_named``) and, a whole number, not
        valued as years nor as a few small codes (``categories``: the COG's ``tncc``, ``mod``),
        read from its lowest and highest values over the whole dataset and, where those may be
        codes', its distinct values; ``None`` when every one is an id, a code, a position or a year (the
        chart counts). The first numeric field was the default: a sum of ``annee``, of ``tncc``."""
        named = [f for f in numeric if measure_named(f)]
        whole = [f for f in named if f.type == FieldType.INT]

        def ask(select: str) -> dict[str, Any]:
            return query_records(instance(request), dataset, select=select, limit=1,
                                 principal=request_principal(request)).results[0]

        read: dict[str, tuple] = {}
        if whole:  # bounds first (~5 ms on 2 M rows); distinct values only where they may be codes (~40 ms each)
            row = ask(", ".join(f"min({quote_name(f.name)}) as low{i}, max({quote_name(f.name)}) as high{i}"
                                for i, f in enumerate(whole)) + ", count(*) as n")
            read = {f.name: (row[f"low{i}"], row[f"high{i}"], None, row["n"]) for i, f in enumerate(whole)}
            small = [f for f in whole if categories(*read[f.name][:2], 0, read[f.name][3])]
            if small:
                row = ask(", ".join(f"count(distinct {quote_name(f.name)}) as distinct{i}" for i, f in enumerate(small)))
                read |= {f.name: (*read[f.name][:2], row[f"distinct{i}"], read[f.name][3]) for i, f in enumerate(small)}
        return next((f.name for f in named if f.name not in read
                     or not (years_valued(*read[f.name][:2]) or categories(*read[f.name]))), None)

    def _tab_values(request: Request, dataset, fields: list[Field], tab: str, state: FilterState, geo) -> dict:
        principal = request_principal(request)
        inst = instance(request)
        where, text = with_qv1(dataset, [], state.qv1)  # the API's reading of qv1 (api_params), one rule
        zone = instants_zone(dataset, fields)
        common = {"refine": state.refine_args, "exclude": state.exclude_args, "where": where, "text": text,
                  **({"timezone": zone} if zone else {})}
        api_params = state.api_params() + ([("timezone", zone)] if zone else [])  # the scripts' and exports' own
        api_query = urlencode(api_params)
        if tab == "table":
            raw = request.query_params.get("page", "1")
            # Deep pages too: the table asks the engine for any page (no 10,000-record window,
            # which only binds API clients paging with offsets).
            # (A page past any table's last one, which the engine could not offset to, is the last.)
            page = page_number(raw, 2**53 // TABLE_PAGE)
            result = query_records(inst, dataset, limit=TABLE_PAGE, offset=(page - 1) * TABLE_PAGE, window=None,
                                   order_by=state.order_by, with_ids=True, principal=principal, **common)
            pages = max(1, -(-result.total_count // TABLE_PAGE))
            if page > pages:
                page = pages
                result = query_records(inst, dataset, limit=TABLE_PAGE, offset=(page - 1) * TABLE_PAGE, window=None,
                                       order_by=state.order_by, with_ids=True, principal=principal, **common)
            facets = dataset_facets(inst, dataset, facet=[f.name for f in facet_fields(fields)], principal=principal,
                                    **common)
            record_id = request.query_params.get("record")
            record = None
            if record_id:
                try:
                    record = get_record(inst, dataset, record_id, principal=principal)
                except ApiError:
                    record = {}
            dates = {f.name for f in fields if f.type in DATE_TYPES}
            facets = [{**f, "facets": _chronological(f["facets"], page_language(request))} if f["name"] in dates else f
                      for f in facets if _useful(f, state)]
            # a number facet's values written as its cells and chips are (``80 000 €``, ``12 345``);
            # the links keep the value
            formatted = {f.name: f for f in fields if f.type in (FieldType.INT, FieldType.DOUBLE)}
            facets = [{**f, "facets": [{**v, "name": _numeric_name(v["value"], formatted[f["name"]],
                                                                   page_language(request))} for v in f["facets"]]}
                      if f["name"] in formatted else f for f in facets]
            return {"rows": result.results, "total": result.total_count, "page": page, "pages": pages,
                    "facets": facets, "record": record,
                    "record_id": record_id}
        if tab == "map":
            total = query_records(inst, dataset, limit=0, principal=principal, **common).total_count
            # the records the map cannot place, told beside its count: the map counted 36,204
            # communes, its table link 36,208, and nothing said why
            located = query_records(inst, dataset, limit=0, principal=principal,
                                    **{**common, "where": [*where, f"{quote_name(geo.name)} is not null"]}
                                    ).total_count if geo is not None and total else total
            settings = inst.settings
            return {"total": total, "unlocated": total - located, "api_query": api_query, "map_ready": vendor_available("maplibre-gl/maplibre-gl.js"),
                    "tile_url": settings.map_tile_url, "tile_attribution": settings.map_tile_attribution,
                    "detail_records": settings.map_detail_records, "zone": zone_names(dataset.timezone),
                    "maplibre_locale": MAPLIBRE.get(page_language(request), {})}
        if tab == "analyze":
            total = query_records(inst, dataset, limit=0, principal=principal, **common).total_count
            params = request.query_params
            numeric = [f for f in fields if f.type in (FieldType.INT, FieldType.DOUBLE)]
            groupable = [f for f in fields if f.type not in (FieldType.GEO_SHAPE, FieldType.GEO_POINT_2D, FieldType.JSON,
                                                              FieldType.FILE)]
            measure = default_measure(request, dataset, numeric)
            chart = chart_settings(params, numeric, groupable, measure)
            if not chart["x"]:
                chart["x"] = preferred_x(groupable) or default_x(request, dataset, groupable, total, common)
            return {"total": total, "api_query": api_query, "chart": chart, "numeric": numeric, "groupable": groupable,
                    "measure": chart["yfield"] or measure or "",
                    "chart_types": CHART_TYPES, "chart_buckets": CHART_BUCKETS,
                    "chart_aggregates": chart_aggregates(numeric),
                    "series_fields": [f for f in groupable if f.type in SERIES_TYPES],
                    "dated": [f.name for f in groupable if f.type in DATE_TYPES],
                    "chart_ready": vendor_available("echarts/echarts.min.js")}
        if tab == "export":
            total = query_records(inst, dataset, limit=0, principal=principal, **common).total_count if state.active \
                else dataset.records_count
            base = f"{portal_root(request)}{API}/catalog/datasets/{dataset.slug}/exports"
            # The current view: its filters, its chosen columns (none left for a format, no link)
            # and its order (the file's rows in the order the table shows them).
            view = urlencode(([("select", state.select)] if state.select else []) + api_params
                             + ([("order_by", state.order_by)] if state.order_by else []))
            chosen = [f for f in fields if state.shows(f.name)]
            formats = [(name, f"{base}/{name}" + (f"?{view}" if view else "") if fmt.fits(chosen) else None,
                        f"{base}/{name}") for name, fmt in FORMATS.items() if fmt.fits(fields)]
            return {"formats": formats, "total": total}
        if tab == "api":  # the facets endpoint's example asks for the facets the table offers
            return {"api_query": api_query, "facet_names": [f.name for f in facet_fields(fields)]}
        return {}

    return router
