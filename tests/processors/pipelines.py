"""A file loaded through a processor pipeline, for the processor tests and the reference data
tests that run the same steps: one way to set a pipeline and load, rather than one per file."""

from __future__ import annotations

from portail.catalog import services
from portail.operations import load_file


def load(instance, path, steps, slug="p"):
    """The load's result and the published version's location, the pipeline ``steps`` set on
    ``slug`` first (the dataset created on first use)."""
    with instance.session() as session:
        try:
            dataset = services.get_dataset(session, slug)
        except services.NotFound:
            dataset = services.create_dataset(session, slug, "Pipeline")
        services.set_pipeline(session, dataset, steps)
    result = load_file(instance, slug, path, publish=True)
    with instance.session() as session:
        location = services.get_dataset(session, slug).current.location
    return result, location
