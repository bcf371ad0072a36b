"""The social housing file's rows as the csv module reads them, every one with its point: the
``rows`` fixture, the oracle of the v1 map endpoints' tests and of ``sort=dist``'s. Kept here
rather than in one test file, so that a test file imports no other test file; a test file takes
the fixture by importing it (``from tests.api.v1_geo_rows import rows``)."""

from __future__ import annotations

import csv

import pytest

from tests.conftest import logements_file


@pytest.fixture(scope="module")
def rows(refdata):
    with open(logements_file(refdata), encoding="utf-8-sig") as handle:
        found = list(csv.DictReader(handle, delimiter=";"))
    assert all(r["geo_point_2d"].strip() for r in found)
    return found
