"""``portail demo`` beside an installed reference hub, in a file of its own: its fixture,
``hub_template``, is the suite's longest setup, and ``pytest -n 2 --dist loadfile`` hands a
file to one worker whole (pyproject.toml's ``testpaths`` starts it first)."""

from __future__ import annotations

from tests.cli import cli  # noqa: F401  (the fixture)


def test_demo_loads_and_is_idempotent(cli, refdata, hub_template, tmp_path):
    """Beside an installed hub, ``demo`` loads each of its datasets, and a second run leaves them
    be. Its two largest CSV files come as real subsets (every fifth record: one record a line in
    both), the other files are the reference files themselves."""
    from portail.demo import DEMO

    hub_template.copy(tmp_path / "home")  # the hub's own install is checked in tests/refdata
    folder = tmp_path / "refdata"
    subsets = {"referentiels/communes_france_enrichies.csv": "7,242", "retraites/drees_eacr_age_liquidation.csv": "3,600"}
    for entry in DEMO:
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.path in subsets:
            header, *lines = (refdata / entry.path).read_bytes().splitlines(keepends=True)
            target.write_bytes(header + b"".join(lines[::5]))
        else:
            target.symlink_to(refdata / entry.path)
    first = cli("demo", "--refdata", str(folder)).output.splitlines()
    assert first[0] == "reference datasets: already installed"
    assert [line.split(":")[0] for line in first[1:]] == [entry.slug for entry in DEMO]
    assert all(line.endswith(" records") for line in first[1:]), first  # none skipped, none failed
    assert "communes-france: 7,242 records" in first and "age-liquidation-retraite: 3,600 records" in first
    again = cli("demo", "--refdata", str(folder)).output.splitlines()
    assert again[1:] == [f"{entry.slug}: already loaded" for entry in DEMO]
    # the publisher's labels and facets, as the API serves them (the table and ods-widgets read them)
    from portail.catalog import services
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "home")
    try:
        with instance.session() as s:
            for entry in DEMO:
                fields = {f.name: f for f in services.current_fields(services.get_dataset(s, entry.slug))}
                assert {n: fields[n].label for n in entry.labels} == entry.labels, entry.slug
                assert [f for f in fields if "facet" in fields[f].annotations] == \
                    [f for f in fields if f in entry.facets], entry.slug
                # a number's unit and decimals, which the pages write in its values (``80 000 €``)
                assert {n: {k: fields[n].annotations.get(k) for k in a} for n, a in entry.annotations.items()} == \
                    entry.annotations, entry.slug
                assert all(fields[n].type in ("int", "double") for n in entry.annotations), entry.slug
        assert sum(len(entry.facets) for entry in DEMO) >= 15
        with instance.session() as s:  # the communes' points (geopoint step): a map of points besides the regions' shapes
            communes = {f.name: f for f in services.current_fields(services.get_dataset(s, "communes-france"))}
            assert communes["coordonnees"].type == "geo_point_2d"
        decp = next(entry for entry in DEMO if entry.slug == "decp-marches-publics")
        assert decp.annotations["montant"] == {"unit": ["€"]}
    finally:
        instance.store.close()
