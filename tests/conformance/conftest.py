"""One real instance for the whole conformance suite: the reference files loaded once by the
real loaders, served by the real app through FastAPI's TestClient.

Publisher choices a portal would make are set before the load (facet annotations, a
multivalued field), so the cases exercise them the way a client meets them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from tests.conformance.sources import FILES, READERS

#: Field annotations set before loading (dataset → field → annotations).
ANNOTATIONS = {
    "elus": {"code_sexe": {"facet": []},
             "libelle_de_la_fonction": {"facet": [], "disjunctive": []},
             "date_de_naissance": {"facet": []},
             "libelle_de_la_categorie_socio_professionnelle": {"multivalued": [","]}},
    "sirene": {"activiteprincipaleetablissement": {"hierarchical": ["."]}},  # NAF codes: division.class
}


@pytest.fixture(scope="session")
def portal(tmp_path_factory, refdata) -> TestClient:
    """Built once per run, each xdist worker serving its own copy (``conftest.built_once``): no
    case writes to it."""
    from tests.conftest import built_once, make_instance

    def build(home: Path) -> None:
        instance = make_instance(home)
        try:
            for slug, relative in FILES.items():
                with instance.session() as s:
                    dataset = services.create_dataset(s, slug, slug)
                    for name, annotations in ANNOTATIONS.get(slug, {}).items():
                        services.set_field_override(s, dataset, name, annotations=annotations)
                load_file(instance, slug, refdata / relative, publish=True)
        finally:
            instance.store.close()
            instance.catalog.kw["bind"].dispose()

    instance = make_instance(built_once(tmp_path_factory, "conformance", build))
    with TestClient(create_app(instance)) as client:  # one event loop for the whole suite, not one per request
        yield client
    instance.store.close()


@pytest.fixture(scope="session")
def source(refdata):
    """``source("communes")``: the rows of a dataset's file, read without Portail."""

    def rows(slug: str) -> list[dict]:
        return READERS[slug](Path(refdata))

    return rows
