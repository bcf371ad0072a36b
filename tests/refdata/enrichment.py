"""Loading a dataset through an enrichment pipeline, for the tests of enrichment against the
reference-data hub (the hub's own, and a new COG vintage's): kept here rather than in one test
file, so that a test file imports no other test file."""

from __future__ import annotations

from portail.catalog import services
from portail.operations import load_file


def enrich(instance, slug, path, steps):
    with instance.session() as s:
        try:
            dataset = services.get_dataset(s, slug)
        except services.NotFound:
            dataset = services.create_dataset(s, slug, slug)
        services.set_pipeline(s, dataset, steps)
    result = load_file(instance, slug, path, publish=True)
    with instance.session() as s:
        location = services.get_dataset(s, slug).current.location
    return result, location
