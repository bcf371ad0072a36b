"""Pages: home, catalogue (search, theme facet, pagination, state in the URL), dataset page
with Opendatasoft-style tab URLs (``/explore/dataset/<id>/information/``, ``…/table/``,
``…/export/``, ``…/api/``) so links to a portal migrated from Opendatasoft keep working."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

from portail.api.explore_service import MAX_LIMIT, get_visible_dataset, query_records, visible_datasets
from portail.exports import FORMATS
from portail.schema import fields_from_json
from portail.web.i18n import STRINGS, language

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
PAGE_SIZE = 20
TABLE_PAGE = 25
_markdown = MarkdownIt("commonmark", {"html": False})


def _context(request: Request, **values) -> dict:
    lang = language(request.query_params.get("lang"), request.headers.get("accept-language"))
    settings = request.app.state.instance.settings
    other = "en" if lang == "fr" else "fr"
    switch = str(request.url.include_query_params(lang=other))
    return {"request": request, "t": STRINGS[lang], "lang": lang, "switch_lang": switch, "portal_title": settings.portal_title,
            **values}


def _matches(dataset, words: list[str]) -> bool:
    text = " ".join([dataset.slug, dataset.title, dataset.description or "", *(dataset.keywords or []), *(dataset.themes or []),
                     *(f["label"] for f in (dataset.current.fields if dataset.current else []))]).lower()
    return all(w in text for w in words)


def web_router(portal: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def instance(request: Request):
        return request.app.state.instance

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request):
        datasets = visible_datasets(instance(request), portal)
        themes = Counter(t for d in datasets for t in (d.themes or []))
        # Reference datasets (the hub) are in the catalogue, not in the news of the home page.
        latest = sorted((d for d in datasets if not (d.extra_metas or {}).get("reference")),
                        key=lambda d: d.modified, reverse=True)[:6]
        return TEMPLATES.TemplateResponse(request, "home.html", _context(
            request, themes=sorted(themes.items()), latest=latest, total=len(datasets),
            records=sum(d.records_count for d in datasets)))

    @router.get("/explore", response_class=HTMLResponse)
    @router.get("/explore/", response_class=HTMLResponse)
    def catalogue(request: Request, q: str = "", theme: str = "", page: int = 1):
        datasets = visible_datasets(instance(request), portal)
        words = [w.lower() for w in q.split()]
        found = [d for d in datasets if _matches(d, words) and (not theme or theme in (d.themes or []))]
        themes = Counter(t for d in datasets if _matches(d, words) for t in (d.themes or []))
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = min(max(page, 1), pages)

        def url(**changes) -> str:
            params = {k: v for k, v in {"q": q, "theme": theme, "page": page, **changes}.items() if v not in ("", None, 1)}
            return "/explore/" + ("?" + urlencode(params) if params else "")

        return TEMPLATES.TemplateResponse(request, "catalogue.html", _context(
            request, q=q, theme=theme, results=found[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], count=len(found),
            themes=sorted(themes.items()), page=page, pages=pages, url=url))

    @router.get("/explore/dataset/{dataset_id}/")
    @router.get("/explore/dataset/{dataset_id}")
    def dataset_root(dataset_id: str):
        return RedirectResponse(f"/explore/dataset/{dataset_id}/information/")

    @router.get("/explore/dataset/{dataset_id}/{tab}/", response_class=HTMLResponse)
    def dataset_page(request: Request, dataset_id: str, tab: str, page: int = 1, sort: str = ""):
        dataset = get_visible_dataset(instance(request), portal, dataset_id)
        fields = fields_from_json(dataset.current.fields)
        values = {"dataset": dataset, "fields": fields, "tab": tab,
                  "description_html": _markdown.render(dataset.description or "")}
        if tab == "table":
            max_page = max(1, min(-(-dataset.records_count // TABLE_PAGE), 10_000 // TABLE_PAGE))
            page = min(max(page, 1), max_page)
            order = f"{sort.lstrip('-')} {'desc' if sort.startswith('-') else 'asc'}" if sort else None
            result = query_records(instance(request), dataset, limit=min(TABLE_PAGE, MAX_LIMIT),
                                   offset=(page - 1) * TABLE_PAGE, order_by=order)
            values.update(rows=result.results, total=result.total_count, page=page, pages=max_page, sort=sort)
        elif tab == "export":
            base = f"/api/explore/v2.1/catalog/datasets/{dataset.slug}/exports"
            has_geo = any(f.type in ("geo_point_2d", "geo_shape") for f in fields)
            values["formats"] = [(name, f"{base}/{name}") for name, fmt in FORMATS.items() if has_geo or not fmt.needs_geo]
        elif tab == "api":
            values["api_url"] = f"/api/explore/v2.1/catalog/datasets/{dataset.slug}/records?limit=10"
        elif tab != "information":
            return RedirectResponse(f"/explore/dataset/{dataset.slug}/information/")
        return TEMPLATES.TemplateResponse(request, "dataset.html", _context(request, **values))

    return router
