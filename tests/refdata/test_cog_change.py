"""A yearly COG change: the hub is reinstalled with a new vintage in which a commune merged into
another; a dataset enriched with admin_divisions keeps its published version until it reloads,
and after the reload its records of the merged commune are remapped and counted.

The new vintage is the real 2026 folder (linked, not copied) with two real files rewritten the
way INSEE publishes a merger: the absorbed commune leaves the commune list as a commune
déléguée, and the events file gains the merger (MOD 32, commune nouvelle)."""

from __future__ import annotations

import csv

import pytest

from portail.catalog import services
from portail.refdata import install
from tests.refdata.enrichment import enrich

ABSORBED, ABSORBING = "01001", "01002"  # L'Abergement-Clémenciat into L'Abergement-de-Varey


def next_vintage(refdata, folder):
    """A folder like ``refdata`` where ABSORBED merged into ABSORBING on 2027-01-01."""
    folder.mkdir()
    for child in refdata.iterdir():
        if child.name != "referentiels":
            (folder / child.name).symlink_to(child)
    (folder / "referentiels").mkdir()
    for child in (refdata / "referentiels").iterdir():
        if child.name not in ("cog2026_communes.csv", "cog2026_mouvements_communes.csv"):
            (folder / "referentiels" / child.name).symlink_to(child)
    with open(refdata / "referentiels" / "cog2026_communes.csv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows, header = list(reader), reader.fieldnames
    for row in rows:
        if row["COM"] == ABSORBED and row["TYPECOM"] == "COM":
            row.update(TYPECOM="COMD", REG="", DEP="", CTCD="", ARR="", CAN="", COMPARENT=ABSORBING)
    with open(folder / "referentiels" / "cog2026_communes.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    events = (refdata / "referentiels" / "cog2026_mouvements_communes.csv").read_text(encoding="utf-8")
    events += (f"32,2027-01-01,COM,{ABSORBED},5,ABERGEMENT CLEMENCIAT,Abergement-Clémenciat,L'Abergement-Clémenciat,"
               f"COM,{ABSORBING},5,ABERGEMENT DE VAREY,Abergement-de-Varey,L'Abergement-de-Varey\n")
    (folder / "referentiels" / "cog2026_mouvements_communes.csv").write_text(events, encoding="utf-8")
    return folder


@pytest.mark.slow
def test_reload_after_a_yearly_cog_change(tmp_path, refdata, hub_template, monkeypatch):
    import sys
    from dataclasses import replace

    from tests.conftest import HUB_SETTINGS, make_instance

    # The new ref-communes version without its geo index (~15 s of CPU, built at install only to
    # spare a later point lookup the wait; hub_template's install builds and tests/refdata/test_hub
    # uses it): enrichment by code, all this test does, never reads it.
    installing = sys.modules["portail.refdata.install"]  # the module (the package's ``install`` is the function)
    monkeypatch.setattr(installing, "DERIVED", [replace(d, derive=()) for d in installing.DERIVED])
    instance = make_instance(hub_template.copy(tmp_path / "home"), **HUB_SETTINGS)  # the 2026 hub, installed
    try:
        with open(refdata / "referentiels" / "cog2026_mouvements_communes.csv", encoding="utf-8") as handle:
            former = next(e["COM_AV"] for e in csv.DictReader(handle) if e["TYPECOM_AP"] == "COM" and e["COM_AV"] != e["COM_AP"]
                          and e["TYPECOM_AV"] == "COM")
        data = tmp_path / "subventions.csv"
        data.write_text(f"code;montant\n{ABSORBED};10\n{ABSORBED};11\n{ABSORBING};12\n{former};13\n99999;14\n", encoding="utf-8")
        steps = [{"processor": "admin_divisions", "field": "code"}]
        before, location_before = enrich(instance, "subventions", data, steps)
        counts = {k: before.report.processors[0][k] for k in ("unmatched", "remapped")}
        assert counts == {"unmatched": 1, "remapped": 1}
        assert [r["code"] for r in before.report.processors[0]["unmatched_records"]] == ["99999"]

        lines = list(install(instance, next_vintage(refdata, tmp_path / "vintage-2027"), only=["communes"]))
        assert "ref-communes: 34,919 records" in lines  # one commune fewer
        # the files the new vintage did not change keep their versions, and so does what only they make
        unchanged = {line.split(":")[0] for line in lines if ": unchanged, " in line}
        assert unchanged == {"ref-src-cog-departements", "ref-src-cog-regions", "ref-src-populations", "ref-src-epci-membres",
                             "ref-src-communes-contours", "ref-src-epci-contours", "ref-src-departements-contours",
                             "ref-src-regions-contours", "ref-epci"}
        with instance.session() as s:
            dataset = services.get_dataset(s, "subventions")
            assert dataset.current.location == location_before  # untouched until it reloads
            assert services.get_dataset(s, "ref-communes").current_version == 2
        old = instance.store.query(location_before, "SELECT commune_code FROM records WHERE code = ?", [ABSORBED]).to_pylist()
        assert old == [{"commune_code": ABSORBED}] * 2  # the old version still reads

        after, location_after = enrich(instance, "subventions", data, steps)
        report = after.report.processors[0]
        assert (report["unmatched"], report["remapped"]) == (1, 3)
        rows = instance.store.query(location_after, "SELECT code, commune_code, commune_nom, commune_dep_code FROM records "
                                                    "ORDER BY montant").to_pylist()
        assert [r["commune_code"] for r in rows[:3]] == [ABSORBING] * 3
        assert rows[0]["commune_nom"] == "L'Abergement-de-Varey" and rows[0]["commune_dep_code"] == "01"
        assert rows[3]["commune_code"] is not None and rows[4]["commune_code"] is None
    finally:
        instance.store.close()
