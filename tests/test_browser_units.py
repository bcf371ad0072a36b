"""Numbers as their publisher annotated them (``unit``, ``decimals``) where our scripts write
them, in a real headless Chromium against a real server process (``tests/live.py``): the chart's
tooltips, value axis and data table, and the map's popups, as the table's cells write them
(``test_web_units``): ``1 234,50 €`` in French, ``1,234.50 €`` in English."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portail.catalog import services
from portail.operations import load_file
from tests.live import live_server
from tests.browser import browser, page  # noqa: F401 - the browser and its French page, as fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NBSP = "\u00a0"
ANALYZE = "/explore/dataset/marches/analyze/?chart.type=column&chart.x=objet"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.conftest import make_instance

    root = tmp_path_factory.mktemp("browser-units")
    rows = ["objet;montant;duree;taux;surface;lots;annee;geo_point_2d",
            "Voirie;1234.5;12;0.125;34.7519655732477;4522;2001;45.76, 4.83",
            "Écoles;80000;24;;;;2019;45.764, 4.83", "Sport;0.25;24;;;;2024;45.768, 4.83"]
    (root / "marches.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    instance = make_instance(root / "home")
    with instance.session() as s:
        dataset = services.create_dataset(s, "marches", "Marchés")
        services.set_field_override(s, dataset, "montant", label="Montant", annotations={"unit": ["€"], "decimals": ["2"]})
        services.set_field_override(s, dataset, "duree", label="Durée", annotations={"unit": ["mois"]})
        services.set_field_override(s, dataset, "taux", label="Taux", annotations={"unit": ["%"], "decimals": ["2"]})
        services.set_field_override(s, dataset, "surface", label="Surface", annotations={"unit": ["m²"]})
        services.set_field_override(s, dataset, "lots", label="Lots", annotations={"unit": ["lots"]})
    load_file(instance, "marches", root / "marches.csv", publish=True)
    instance.store.close()
    with live_server(root / "home") as base:
        yield base


def read(text: str) -> str:
    """Intl's French thousands separator (a narrow no-break space) as the table's plain one."""
    return text.replace("\u202f", " ")


def chart_values(page) -> dict[str, str]:
    rows = page.locator("#chart-table tbody tr")
    return {r.locator("td").first.text_content(): read(r.locator("td").last.text_content()) for r in rows.all()}


def test_chart_values_in_unit_and_decimals(page, server):
    page.goto(server + ANALYZE + "&chart.y=sum&chart.yfield=montant")
    page.wait_for_selector("#chart[data-state=ready]")
    assert chart_values(page) == {"Voirie": f"1 234,50{NBSP}€", "Écoles": f"80 000,00{NBSP}€", "Sport": f"0,25{NBSP}€"}
    option = "echarts.getInstanceByDom(document.getElementById('chart')).getOption()"
    assert read(page.evaluate(f"{option}.tooltip[0].valueFormatter(1234.5)")) == f"1 234,50{NBSP}€"
    assert read(page.evaluate(f"{option}.yAxis[0].axisLabel.formatter(20000)")) == f"20 000{NBSP}€"

    page.goto(server + ANALYZE + "&chart.y=avg&chart.yfield=duree&lang=en")
    page.wait_for_selector("#chart[data-state=ready]")
    assert chart_values(page)["Voirie"] == f"12{NBSP}mois"
    page.goto(server + ANALYZE + "&chart.y=sum&chart.yfield=montant&lang=en")
    page.wait_for_selector("#chart[data-state=ready]")
    assert chart_values(page)["Voirie"] == f"1,234.50{NBSP}€"
    page.goto(server + "/explore/dataset/marches/analyze/?chart.type=column&chart.x=duree&chart.y=sum&chart.yfield=montant")
    page.wait_for_selector("#chart[data-state=ready]")  # a number X in its unit too, as its cells
    assert set(chart_values(page)) == {f"12{NBSP}mois", f"24{NBSP}mois"}
    page.goto(server + ANALYZE + "&chart.y=count")  # a count is of records: no unit
    page.wait_for_selector("#chart[data-state=ready]")
    assert chart_values(page)["Voirie"] == "1"
    assert not page.js_errors


def test_map_popup_values_in_unit_and_decimals(page, server):
    page.goto(server + "/explore/dataset/marches/map/")
    page.wait_for_selector("#map[data-state=ready]")
    point = page.evaluate("window.portailMap.project([4.83, 45.76])")  # Voirie's point
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    popup = page.locator(".maplibregl-popup")
    expect(popup.locator("table")).to_have_count(1)
    text = read(popup.inner_text())
    assert f"1 234,50{NBSP}€" in text and f"12{NBSP}mois" in text and "Voirie" in text
    # every value as the table's cell writes it (routes.number_text): a tie rounded half away
    # from zero (0,13 %), a fraction's 10 significant digits, a whole number under 10 000 ungrouped
    shown = dict(zip(popup.locator("th").all_text_contents(), map(read, popup.locator("td").all_text_contents())))
    assert shown["Taux"] == f"0,13{NBSP}%" and shown["Surface"] == f"34,75196557{NBSP}m²" and shown["Lots"] == f"4522{NBSP}lots"
    page.select_option("#color-by", "montant")  # the legend's bounds, in the field's unit too
    expect(page.locator("#map-legend li")).to_have_count(2)
    assert [read(t) for t in page.locator("#map-legend li").all_text_contents()] == [f"0,25{NBSP}€", f"80 000,00{NBSP}€"]
    page.select_option("#color-by", "annee")  # a year is never grouped, as in its cells
    expect(page.locator("#map-legend li").first).to_have_text("2001")
    assert page.locator("#map-legend li").all_text_contents() == ["2001", "2024"]
    page.goto(server + "/explore/dataset/marches/table/?sort=objet")
    headers = page.locator("table.records thead th").all_text_contents()
    row = page.locator("table.records tbody tr", has_text="Voirie").locator("td").all_text_contents()
    cells = dict(zip([h.strip() for h in headers[-len(row):]], [read(c).strip() for c in row]))
    assert {k: cells[k] for k in ("Taux", "Surface", "Lots", "Montant")} == {k: shown[k] for k in ("Taux", "Surface", "Lots", "Montant")}
    assert not page.js_errors
