"""The HTML portal: server-rendered pages (Jinja2) over the same services as the API.

Public face: ``web_router(portal)``. No SQL and no file access here: pages call
``api.explore_service`` and ``api.serialize`` like the JSON API does.

Inside: ``routes`` (home, catalogue, dataset tabs), ``catalogue`` (the catalogue's search and
facets), ``filters`` (the filter state the dataset tabs share in their URL), ``i18n`` (FR/EN
strings, numbers, dates), ``docs`` (Swagger UI without a CDN), ``static/`` (our CSS and three
small scripts: map, chart, API console; ``static/vendor/`` is filled from npm at install).
"""

from portail.web.routes import web_router

__all__ = ["web_router"]
