"""A field annotation's value is one Portail can honour (``services.check_annotation``): a
``facetsort`` no facet knows, a ``timeserie_precision`` Opendatasoft does not have, ``decimals``
that are no number of digits, a blank ``unit`` were recorded, then ignored at every query and
page with nothing said. Refused on the command line (exit 2) and in the management API (a 400
in Opendatasoft's shape), naming the field, the annotation and what it takes; the value an
override holds already is not refused when it is sent again."""

from __future__ import annotations

import pytest

from portail.catalog import services
from tests.cli import cli, csv_file  # noqa: F401 - cli: the fixture
from tests.conftest import make_instance, operator_client

API = "/api/management/v1"
SORTS = "one of count, -count, alphanum, -alphanum, num, -num"


def _one_line(result) -> str:
    return " ".join(result.output.split())


def _overrides(home) -> dict:
    instance = make_instance(home)
    try:
        with instance.session() as session:
            return services.get_dataset(session, "qa").field_overrides or {}
    finally:
        instance.store.close()


@pytest.mark.parametrize("annotation, takes, honoured", [
    ("facetsort=foo", SORTS, "facetsort=-count"),
    ("facetsort=count desc", SORTS, "facetsort=alphanum"),
    ("timeserie_precision=week", "one of year, month, day, hour, minute", "timeserie_precision=day"),
    ("decimals=deux", "a whole number of digits from 0 to 20, e.g. decimals=2", "decimals=2"),
    ("decimals=-1", "a whole number of digits from 0 to 20", "decimals=0"),
    ("decimals=25", "a whole number of digits from 0 to 20", "decimals=20"),  # the pages write 20 at most
    ("unit= ", "a unit that is not blank, e.g. unit=€", "unit=km²"),
])
def test_an_annotation_value_portail_cannot_honour_is_refused(cli, tmp_path, annotation, takes, honoured):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;nom;n\n01001;A;1\n"))
    refused = cli("dataset", "field", "qa", "nom", "--annotate", "facet", "--annotate", annotation, ok=False)
    name, _, value = annotation.partition("=")
    said = f"Annotation {annotation!r} of field 'nom': {name} takes {takes}"
    assert refused.exit_code == 2 and said in _one_line(refused), refused.output
    assert _overrides(tmp_path / "home") == {}  # nothing recorded
    instance = make_instance(tmp_path / "home")  # the management API's override: the same check
    try:
        answer = operator_client(instance).put(f"{API}/datasets/qa/fields/nom",
                                               json={"annotations": {"facet": [], name: [value]}})
        assert answer.status_code == 400 and said in answer.json()["message"], answer.text
        assert answer.json()["error_code"]
    finally:
        instance.store.close()
    assert _overrides(tmp_path / "home") == {}
    assert "override saved" in cli("dataset", "field", "qa", "n", "--annotate", honoured).output  # a value honoured
    name, _, value = honoured.partition("=")
    assert _overrides(tmp_path / "home")["n"]["annotations"] == {name: [value]}


def test_a_value_recorded_before_the_check_is_not_refused_when_sent_again(cli, tmp_path):
    """An override sent back whole with one change (a form, a script's read-modify-write) holds
    the value recorded before values were checked: refused, nothing else of the field could be
    changed without first dropping it. Another value is still checked, and a reload still works."""
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n"),
        "--publish")
    instance = make_instance(tmp_path / "home")
    try:
        with instance.session() as session:  # as recorded before the check
            dataset = services.get_dataset(session, "qa")
            dataset.field_overrides = {"nom": {"annotations": {"facet": [], "facetsort": ["foo"]}}}
        client = operator_client(instance)
        kept = client.put(f"{API}/datasets/qa/fields/nom",
                          json={"label": "Nom", "annotations": {"facet": [], "facetsort": ["foo"], "disjunctive": []}})
        assert kept.status_code == 200, kept.text
        refused = client.put(f"{API}/datasets/qa/fields/nom", json={"annotations": {"facetsort": ["bar"]}})
        assert refused.status_code == 400 and "Annotation 'facetsort=bar' of field 'nom'" in refused.json()["message"]
    finally:
        instance.store.close()
    assert _overrides(tmp_path / "home")["nom"]["annotations"] == {"facet": [], "facetsort": ["foo"], "disjunctive": []}
    assert "override saved" in cli("dataset", "field", "qa", "nom", "--annotate", "facet",
                                   "--annotate", "facetsort=foo").output
    assert "version 2" in cli("dataset", "reload", "qa").output


@pytest.mark.parametrize("annotation, arguments, takes", [
    ("decimals", ["9" * 5000], "a whole number of digits from 0 to 20"),  # int() refuses 4,300 digits: was a 500
    ("unit", [None], "a text or a number, not null"),  # recorded, the pages read the unit "None"
    ("multivalued", [True], "a text or a number, not true"),
])
def test_an_argument_no_reader_can_take_is_a_400(tmp_path, annotation, arguments, takes):
    instance = make_instance(tmp_path / "home")
    try:
        client = operator_client(instance)
        client.post(f"{API}/datasets", json={"dataset_id": "qa", "title": "QA"})
        answer = client.put(f"{API}/datasets/qa/fields/n", json={"annotations": {annotation: arguments}})
        assert answer.status_code == 400, answer.text[:300]
        assert f"of field 'n': {annotation} takes {takes}" in answer.json()["message"], answer.text[:300]
        for kept in (["002"], [0], ["20"]):  # leading zeros and a JSON number are digits all the same
            assert client.put(f"{API}/datasets/qa/fields/n", json={"annotations": {"decimals": kept}}).status_code == 200
    finally:
        instance.store.close()
    assert _overrides(tmp_path / "home")["n"]["annotations"] == {"decimals": ["20"]}
