"""The HTML portal: server-rendered pages (Jinja2) over the same services as the API.

Public face: ``web_router(portal)``. No SQL and no file access here: pages call
``api.explore_service`` and ``api.serialize`` like the JSON API does.
"""

from portail.web.routes import web_router

__all__ = ["web_router"]
