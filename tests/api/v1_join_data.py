"""The two files of v1 analyze's join, as ods-widgets' aggregation map layer joins them: the
regional councillors (``COUNCILLORS``, a path under the reference data, and the ``councillors``
fixture, its rows) and the regions' shapes (``REGIONS``, and ``regions``, the features by region
code), read here with plain Python as the tests' oracle. Shared by the join's tests and the
widget calls' replays; kept here rather than in one test file, so that a test file imports no
other test file."""

from __future__ import annotations

import csv
import json

import pytest

COUNCILLORS = ("elus", "rne_elus-conseillers-regionaux-cr.csv")
REGIONS = ("geo", "regions-version-simplifiee.geojson")


@pytest.fixture(scope="module")
def councillors(refdata):
    with open(refdata.joinpath(*COUNCILLORS), encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture(scope="module")
def regions(refdata):
    with open(refdata.joinpath(*REGIONS), encoding="utf-8") as handle:
        return {f["properties"]["code"]: f for f in json.load(handle)["features"]}
