"""The demo's communes on the map tab, for the page tests and the browser tests: a point per
commune from the real reference file, built by the same ``geopoint`` pipeline step as
``portail demo``. Kept here rather than in one test file, so that a test file imports no other
test file."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from portail.catalog import services
from portail.operations import load_file
from tests.browser import settle
from tests.live import live_server

MAP = "/explore/dataset/communes-france/map/"
PIPELINE = [{"processor": "geopoint", "lat": "lat", "lon": "lng", "output": "coordonnees"}]  # as demo.DEMO's
AIN = (5.35, 46.2)  # lon, lat: a handful of communes at zoom 12
OVERSEAS = {"Pointe-à-Pitre": (-61.53, 16.24), "Saint-Denis (La Réunion)": (55.45, -20.88)}
#: The API calls the map makes for its records (a view's points or clusters, their export).
DATA_CALLS = ("/records?", "/exports/geojson?")


def first_communes(refdata: Path, target: Path, rows: int) -> None:
    """The reference file's header and first ``rows`` communes (Guadeloupe, then Ain…)."""
    with open(refdata / "referentiels" / "communes_france_enrichies.csv", encoding="utf-8") as source:
        target.write_text("".join(line for _, line in zip(range(rows + 1), source)), encoding="utf-8")


def published_points(instance, slug: str, title: str, source: Path, labels: dict[str, str] | None = None) -> None:
    """``source``'s communes published as ``slug``, each given its point by the demo's pipeline
    (``PIPELINE``), their fields labelled by ``labels``."""
    with instance.session() as s:
        dataset = services.create_dataset(s, slug, title)
        services.set_pipeline(s, dataset, PIPELINE)
        for name, label in (labels or {}).items():
            services.set_field_override(s, dataset, name, label=label)
    load_file(instance, slug, source, publish=True)


#: The communes' server of this process (an xdist worker, or the whole run without xdist).
SERVED = pytest.StashKey[str]()


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, refdata):
    """A server of all 36,000 communes, their INSEE code labelled "Code INSEE", for each test file
    that imports it (``from tests.communes_map import server``). Published and started once per
    process and shared by those files, stopped at the run's end: publishing the 36,000 took ~4 s
    per file. Safe because they only read it (pages and API calls, no write), and each test has
    its own browser context (no cookie, cache or storage is shared). A fixture of session scope
    would not do: pytest runs one per file that imports it."""
    config = request.config
    if SERVED not in config.stash:
        from tests.conftest import make_instance

        home = tmp_path_factory.mktemp("browser-map-points") / "home"
        instance = make_instance(home)
        published_points(instance, "communes-france", "Communes de France",
                         refdata / "referentiels" / "communes_france_enrichies.csv", labels={"insee_com": "Code INSEE"})
        instance.store.close()
        served = ExitStack()
        config.add_cleanup(served.close)
        config.stash[SERVED] = served.enter_context(live_server(home))
    return config.stash[SERVED]


def jump(page, *views) -> None:
    """Each view (zoom, (lon, lat)) in turn, in the same moment, as a hurried user's moves."""
    page.evaluate("""(views) => views.forEach(([zoom, center]) => window.portailMap.jumpTo({zoom, center}))""",
                  [[zoom, list(center)] for zoom, center in views])


def view(page) -> dict:
    """The map's zoom and the bounds it shows, as the page's MapLibre map has them."""
    return page.evaluate("""() => { const m = window.portailMap, b = m.getBounds();
        return {zoom: m.getZoom(), west: b.getWest(), south: b.getSouth(), east: b.getEast(),
                north: b.getNorth()}; }""")


def inside(v: dict, lon: float, lat: float) -> bool:
    return v["west"] <= lon <= v["east"] and v["south"] <= lat <= v["north"]


def counting_calls(page) -> None:
    """Keep on ``page.data_calls`` each call the page makes for records (``DATA_CALLS``), its
    address decoded: the map tests count them instead of timing anything."""
    page.data_calls = []
    page.on("request", lambda r: page.data_calls.append(unquote_plus(r.url))
            if any(c in r.url for c in DATA_CALLS) else None)


def opened(page, address: str) -> None:
    """``address`` loaded, its map ready and its calls answered."""
    page.goto(address)
    page.wait_for_selector("#map[data-state=ready]")
    settle(page)


def first_view_calls(page) -> list[str]:
    """The calls made for the first view: those not about the records in view (``in_bbox``)."""
    return [call for call in page.data_calls if "in_bbox" not in call]
