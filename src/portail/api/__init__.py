"""HTTP APIs: the Opendatasoft-compatible Explore API v2.1 and the management API.

Public face: ``create_app(instance)``. Routers stay thin: they parse parameters, call the
services (``explore_service``, ``operations``, ``catalog.services``) and shape JSON.
"""

from portail.api.app import create_app

__all__ = ["create_app"]
