"""A version's stored order must not follow a field hidden from a caller.

A load stores the records sorted on up to three facet fields (``ingest.load.sort_keys``), and
every read without ``order_by`` (records, cursors, exports, v1, the web table) comes back in that
order. With ``salaire`` marked as a facet and hidden from anonymous by the default ruleset,
anonymous got the names ranked by salary: the hidden field's values, told by rank.

- a rule set before a load: the load leaves its field out of the sort keys;
- a rule saved after a load (the version already sorted on its field): the save is not
  refused, and its answer (management API and CLI) warns that the records stay in that order
  until the next load, which then sorts without it; showing the rules warns again until then;
- serving again a version loaded before the rule (publish, rollback) warns as the save did.
"""

from __future__ import annotations

from pathlib import Path

from portail.auth import services as auth
from portail.catalog import services
from portail.operations import load_file
from tests.cli import cli  # noqa: F401 (the fixture)
from tests.conftest import Published, make_instance, operator_client, published_instance, semicolon_csv

SLUG = "personnes"
RECORDS = f"/api/explore/v2.1/catalog/datasets/{SLUG}/records"
SECURITY = f"/api/management/v1/datasets/{SLUG}/security"
#: In file order: neither the names' order nor the salaries' (ascending or descending).
PEOPLE = [("Marchand", "2650"), ("Benoit", "4100"), ("Roux", "1890"), ("Fabre", "3320"),
          ("Lemoine", "5200"), ("Garnier", "2210"), ("Perrin", "3900"), ("Aubert", "1720")]
FILE_ORDER = [name for name, _ in PEOPLE]
BY_SALARY = [name for name, _ in sorted(PEOPLE, key=lambda p: int(p[1]))]


def _people_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return semicolon_csv(folder / "personnes.csv", [{"nom": n, "service": "compta", "salaire": s} for n, s in PEOPLE])


def _anonymous_order(client) -> list[str]:
    """The names as anonymous reads them without ``order_by``."""
    answer = client.get(RECORDS, params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return [r["nom"] for r in answer.json()["results"]]


def _not_ranked_by_salary(client, names: list[str]) -> None:
    assert "salaire" not in client.get(RECORDS, params={"limit": 1}).json()["results"][0]  # the rule holds
    assert sorted(names) == sorted(FILE_ORDER)
    assert names not in (BY_SALARY, BY_SALARY[::-1]), names


def test_a_field_hidden_before_the_load_is_not_a_sort_key(tmp_path):
    instance = make_instance(tmp_path / "home")
    try:
        with instance.session() as s:
            dataset = services.create_dataset(s, SLUG, "Personnes")
            services.set_field_override(s, dataset, "salaire", annotations={"facet": []})
            auth.set_dataset_security(s, dataset, hidden_fields={"*": ["salaire"]})
        result = load_file(instance, SLUG, _people_csv(tmp_path / "data"), publish=True)
        client = operator_client(instance)
        _not_ranked_by_salary(client, _anonymous_order(client))
        assert "salaire" not in result.report.sorted_by
        exported = client.get(f"/api/explore/v2.1/catalog/datasets/{SLUG}/exports/csv", params={"select": "nom"})
        _not_ranked_by_salary(client, exported.text.split()[1:])
        # the save after it warns of nothing: this version is not sorted on the hidden field
        answer = client.put(SECURITY, json={"hidden_fields": {"*": ["salaire"]}})
        assert answer.status_code == 200 and answer.json()["warnings"] == [], answer.text
    finally:
        instance.store.close()


def test_a_rule_saved_after_the_load_warns_until_the_next_load(tmp_path):
    data = _people_csv(tmp_path / "data")
    instance = published_instance(tmp_path / "home", Published(SLUG, data, annotations={"salaire": {"facet": []}}))
    try:
        client = operator_client(instance)
        assert _anonymous_order(client) == BY_SALARY  # the version sorted on salaire, shown to all
        unrelated = client.put(SECURITY, json={"hidden_fields": {"*": ["service"]}})
        assert unrelated.status_code == 200 and unrelated.json()["warnings"] == [], unrelated.text
        answer = client.put(SECURITY, json={"hidden_fields": {"*": ["service", "salaire"]}})
        assert answer.status_code == 200, answer.text  # saved, not refused
        assert answer.json()["hidden_fields"] == {"*": ["salaire", "service"]}
        [warning] = answer.json()["warnings"]
        assert "'salaire'" in warning and f"portail dataset reload {SLUG}" in warning
        assert client.get(SECURITY).json()["warnings"] == [warning]  # said again to whoever looks
        load_file(instance, SLUG, data, publish=True)  # the next load sorts without it
        _not_ranked_by_salary(client, _anonymous_order(client))
        assert client.get(SECURITY).json()["warnings"] == []
        assert client.put(SECURITY, json={"hidden_fields": {"*": ["salaire"]}}).json()["warnings"] == []
    finally:
        instance.store.close()


def test_the_cli_warns_when_it_hides_a_sort_key(tmp_path, cli):  # noqa: F811 (the fixture)
    published_instance(tmp_path / "home", Published(SLUG, _people_csv(tmp_path / "data"),
                                                    annotations={"salaire": {"facet": []}})).store.close()
    said = cli("dataset-security", SLUG, "--hide-fields", "default=salaire").output
    assert "hidden fields default: salaire" in said
    [warning] = [line for line in said.splitlines() if line.startswith("warning: ")]
    assert "'salaire'" in warning and f"portail dataset reload {SLUG}" in warning
    assert warning in cli("dataset-security", SLUG).output.splitlines()  # shown again, until the next load
    assert "warning" not in cli("dataset-security", SLUG, "--hide-fields", "default=service").output


def test_serving_again_a_version_sorted_on_a_hidden_field_warns(tmp_path, cli):  # noqa: F811 (the fixture)
    """A rollback (or the publication of a version loaded before the rule) serves records sorted
    on a field hidden since: the answer says so, as the rule's save did, else the warning given
    once is silently undone by the operator's way out of a bad load."""
    data = _people_csv(tmp_path / "data")
    instance = published_instance(tmp_path / "home", Published(SLUG, data, annotations={"salaire": {"facet": []}}))
    try:
        client = operator_client(instance)
        assert client.put(SECURITY, json={"hidden_fields": {"*": ["salaire"]}}).json()["warnings"]
        load_file(instance, SLUG, data, publish=True)  # version 2: sorted without salaire
        assert client.post(f"/api/management/v1/datasets/{SLUG}/publish", json={"version": 2}).json()["warnings"] == []
        back = client.post(f"/api/management/v1/datasets/{SLUG}/rollback")
        assert back.status_code == 200 and back.json()["current_version"] == 1, back.text
        assert _anonymous_order(client) == BY_SALARY  # what the rollback serves
        [warning] = back.json()["warnings"]
        assert "'salaire'" in warning, warning
    finally:
        instance.store.close()
    said = cli("dataset", "publish", SLUG, "--version", "1").output
    assert "version 1 published" in said
    [warning] = [line for line in said.splitlines() if line.startswith("warning: ")]
    assert "'salaire'" in warning
    said = cli("dataset", "publish", SLUG, "--version", "2").output
    assert "warning" not in said
    said = cli("dataset", "rollback", SLUG, "--to", "1").output
    assert [line for line in said.splitlines() if line.startswith("warning: ") and "'salaire'" in line]
