"""The iCalendar export over HTTP, read back by the ``icalendar`` package (an implementation of
RFC 5545 independent of ours): the senators' mandates (real RNE file, dates) and a small agenda
written here (instants, ends, places, text the format must escape and fold)."""

from __future__ import annotations

import csv
from urllib.parse import urlsplit
from datetime import date, datetime, timedelta, timezone

import icalendar
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

API = "/api/explore/v2.1/catalog/datasets/{}"
LONG_TITLE = "Réunion publique d'information sur le plan local d'urbanisme intercommunal, quartier Saint-Éloi"
AGENDA_CSV = f"""id;titre;debut;fin;jour;lieu;geo_point_2d
1;"Conseil municipal; séance publique, budget";2024-03-28T18:30:00+01:00;2024-03-28T21:00:00+01:00;2024-03-28;"Hôtel de Ville
salle des fêtes";48.8566,2.3522
2;Fête de la musique;2024-06-21T20:00:00+02:00;2024-06-21T19:00:00+02:00;2024-06-21;Parc;48.86,2.33
3;Sans date;;;;Nulle part;
4;{LONG_TITLE};2024-12-31T23:00:00+00:00;;2025-01-01;;
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("calendar")
    (folder / "agenda.csv").write_text(AGENDA_CSV, encoding="utf-8")
    instance = published_instance(folder / "home",
                                  Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs"),
                                  Published("agenda", folder / "agenda.csv", "Agenda"),
                                  Published("regions", refdata / "geo" / "regions-version-simplifiee.geojson", "Régions"))
    yield TestClient(create_app(instance))
    instance.store.close()


def events(response) -> list[icalendar.Event]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return list(icalendar.Calendar.from_ical(response.content).walk("VEVENT"))


def test_senators_mandates_are_one_day_events_titled_and_described(client, refdata):
    with open(refdata / "elus" / "rne_elus-senateurs-sen.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    response = client.get(API.format("senateurs") + "/exports/ical",
                          params={"start_field": "date_de_debut_du_mandat", "name_field": "nom_de_l_elu"})
    found = events(response)
    assert response.headers["content-disposition"].endswith('senateurs.ics"')
    assert len(found) == len(rows) == len({str(e["UID"]) for e in found})
    expected = sorted((date.fromisoformat(r["Date de début du mandat"]), r["Nom de l'élu"], r["Prénom de l'élu"])
                      for r in rows)
    read = sorted((e.decoded("DTSTART"), str(e["SUMMARY"]),
                   next(line for line in str(e["DESCRIPTION"]).split("\n") if line.startswith("prenom_de_l_elu: "))
                   .removeprefix("prenom_de_l_elu: ")) for e in found)
    assert read == expected
    assert all("DTEND" not in e for e in found)  # no end_field: one-day events
    # Each event is named by its record's URL: the id /records gives the record.
    records = client.get(API.format("senateurs") + "/records",
                         params={"where": 'nom_de_l_elu = "CHAIZE"', "select": "nom_de_l_elu"}).json()["results"]
    uid = next(str(e["UID"]) for e in found if str(e["SUMMARY"]) == "CHAIZE")
    record = client.get(urlsplit(uid).path).json()
    assert record["nom_de_l_elu"] == "CHAIZE" and len(records) == 1


def test_by_default_an_event_starts_at_the_first_date_and_is_titled_by_the_first_text(client, refdata):
    found = events(client.get(API.format("senateurs") + "/exports/ical",
                              params={"where": 'nom_de_l_elu = "CHAIZE"'}))
    assert [(e.decoded("DTSTART"), str(e["SUMMARY"])) for e in found] == [(date(1963, 3, 22), "1")]  # code du département


def test_agenda_instants_ends_places_and_text_round_trip(client):
    response = client.get(API.format("agenda") + "/exports/ical",
                          params={"start_field": "debut", "end_field": "fin", "name_field": "titre",
                                  "description_field_list": "lieu"})
    found = {str(e["SUMMARY"]): e for e in events(response)}
    assert set(found) == {"Conseil municipal; séance publique, budget", "Fête de la musique", LONG_TITLE}  # no start: out
    council = found["Conseil municipal; séance publique, budget"]
    assert council.decoded("DTSTART") == datetime(2024, 3, 28, 17, 30, tzinfo=timezone.utc)
    assert council.decoded("DTEND") == datetime(2024, 3, 28, 20, 0, tzinfo=timezone.utc)
    assert str(council["DESCRIPTION"]) == "lieu: Hôtel de Ville\nsalle des fêtes"
    assert (council["GEO"].latitude, council["GEO"].longitude) == (48.8566, 2.3522)
    assert "DTEND" not in found["Fête de la musique"]  # its end comes before its start
    assert "GEO" not in found[LONG_TITLE] and "DESCRIPTION" not in found[LONG_TITLE]
    # Escaped as RFC 5545 asks (a lenient reader would take "; ," raw, a strict one would not).
    assert "SUMMARY:Conseil municipal\\; séance publique\\, budget\r\n".encode() in response.content
    lines = response.content.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) <= 75 for line in lines)  # folded, CRLF, nothing else
    assert any(line.startswith(b" ") for line in lines)  # the long title was folded (and read back whole)


def test_an_end_date_is_the_last_day_of_the_event(client):
    found = events(client.get(API.format("senateurs") + "/exports/ical",
                              params={"start_field": "date_de_naissance", "end_field": "date_de_debut_du_mandat",
                                      "where": 'nom_de_l_elu = "CHAIZE"'}))
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in found] == [
        (date(1963, 3, 22), date(2020, 10, 1) + timedelta(days=1))]


def test_the_end_takes_the_type_of_the_start(client):
    """RFC 5545: DTEND has DTSTART's value type. A day started ends on its end instant's day in
    the request's zone; an instant started ends at the end of its end date."""
    days = events(client.get(API.format("agenda") + "/exports/ical",
                             params={"start_field": "jour", "end_field": "debut", "name_field": "titre",
                                     "timezone": "Pacific/Auckland"}))
    assert sorted((e.decoded("DTSTART"), e.decoded("DTEND")) for e in days if "DTEND" in e) == [
        (date(2024, 3, 28), date(2024, 3, 30)),  # 18:30 in Paris is the 29th in Auckland, the last day
        (date(2024, 6, 21), date(2024, 6, 23)),
        (date(2025, 1, 1), date(2025, 1, 2))]  # 2024-12-31T23:00Z is noon on the 1st in Auckland
    instants = events(client.get(API.format("agenda") + "/exports/ical",
                                 params={"start_field": "debut", "end_field": "jour", "name_field": "titre"}))
    assert sorted((e.decoded("DTSTART"), e.decoded("DTEND")) for e in instants if "DTEND" in e) == [
        (datetime(2024, 3, 28, 17, 30, tzinfo=timezone.utc), datetime(2024, 3, 29, tzinfo=timezone.utc)),
        (datetime(2024, 6, 21, 18, 0, tzinfo=timezone.utc), datetime(2024, 6, 22, tzinfo=timezone.utc)),
        (datetime(2024, 12, 31, 23, 0, tzinfo=timezone.utc), datetime(2025, 1, 2, tzinfo=timezone.utc))]


@pytest.mark.parametrize(("params", "message"), [
    ({"start_field": "titre"}, "Invalid value for start_field API parameter: 'titre' is not a date or datetime field"),
    ({"end_field": "inconnu"}, "Invalid value for end_field API parameter: 'inconnu' is not a date or datetime field"),
    ({"name_field": "inconnu"}, "Invalid value for name_field API parameter: 'inconnu' is not a field of this export"),
])
def test_a_bad_field_is_a_400_naming_its_parameter(client, params, message):
    response = client.get(API.format("agenda") + "/exports/ical", params=params)
    assert response.status_code == 400 and response.json()["message"].startswith(message)


def test_only_datasets_with_a_date_offer_the_calendar(client):
    response = client.get(API.format("regions") + "/exports/ical")
    assert response.status_code == 400
    assert response.json()["message"] == "The ical export needs a date or datetime field."
    listed = {name: [link["rel"] for link in client.get(API.format(name) + "/exports").json()["links"]]
              for name in ("regions", "agenda")}
    assert "ical" not in listed["regions"] and "ical" in listed["agenda"] and "gpx" in listed["regions"]
