"""One instance for the leak matrix: real refdata files, real users, groups and keys.

Three datasets:

- ``SECRET`` (Paris social housing, restricted, on both portals): group ``arr13`` sees only
  rows with ``code_postal = "75013"``; group ``masque`` sees every row but not the field
  ``adresse_programme``; group ``lecteurs`` sees it whole; the publisher ``pub`` holds a user
  grant. It has an attachment whose title is a canary.
- ``META`` (départements, restricted, metadata public): listed to everyone, records to no one
  without a grant.
- ``OPEN`` (régions, public): the positive control every valid caller sees.

Canaries are values that only restricted rows or the hidden field contain, chosen from the
file itself so the test cannot pass by accident: addresses (the hidden field) of rows outside
``75013`` that appear nowhere else in the file.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from portail import operations
from portail.api import create_app
from portail.auth import passwords, services as auth
from portail.auth.models import ApiKey
from portail.catalog import services
from portail.config import Settings
from portail.operations import open_instance

SECRET, META, OPEN = "logements-restreints", "departements-meta", "regions-ouvertes"
SECRET_TITLE = "Programmes confidentiels QZXW"
ATTACHMENT_TITLE = "note-interne-QZXW.txt"
HIDDEN = "adresse_programme"
ALLOWED_CP = "75013"
MANAGEMENT_TOKEN = "matrix-management-token"


@dataclass(frozen=True)
class Caller:
    """One column of the matrix: how it authenticates and what it must see of ``SECRET``."""

    name: str
    key: str | None
    secret: str  # "unknown" (does not exist), "rows" (75013 only), "fields" (no hidden field), "all", "refused" (401)
    sees_meta_records: bool = False
    sees_open: bool = True
    sees_meta: bool = True


@dataclass
class Matrix:
    client: TestClient
    instance: operations.Instance
    callers: dict[str, Caller]
    row_canaries: list[str]  # addresses of rows outside 75013 (also hidden-field values)
    kept_addresses: list[str]  # addresses of 75013 rows: arr13 sees them, masque does not
    total: int
    allowed: int
    canary_record_id: str  # the id (for callers seeing every field) of a row outside 75013
    attachment_id: str
    open_uid: str


def _canaries(path: Path) -> tuple[list[str], list[str], int, int]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    elsewhere = "\n".join(";".join(v or "" for k, v in row.items() if k != HIDDEN) for row in rows)
    inside = {r[HIDDEN] for r in rows if r["code_postal"] == ALLOWED_CP}
    plain = re.compile(r"^[0-9A-Z][0-9A-Z -]{11,}$")
    outside = [r[HIDDEN] for r in rows if r["code_postal"] not in (ALLOWED_CP, "")
               and plain.match(r[HIDDEN] or "") and r[HIDDEN] not in elsewhere
               and not any(r[HIDDEN] in a for a in inside)]  # in file order: the first pages hold some
    kept = [a for a in sorted(inside) if plain.match(a or "") and a not in elsewhere]
    allowed = sum(1 for r in rows if r["code_postal"] == ALLOWED_CP)
    return list(dict.fromkeys(outside))[:25], kept[:10], len(rows), allowed


def _first_rows(source: Path, target: Path, count: int) -> Path:
    """The file's header and first ``count`` records, rewritten by the csv module (some records
    span lines): the matrix exports every format for every caller, and 300 rows (all twenty
    arrondissements, 24 of them in 75013, 25 row canaries and 10 kept addresses; more than one
    of v1's map batches, ``api.v1_geo.BATCH``) prove as much as four thousand; the per-row work
    (v1's clusters of one record each, exports) made a sixth of the matrix's CPU at 1,000."""
    with source.open(encoding="utf-8-sig", newline="") as f, target.open("w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(f, delimiter=";"), csv.writer(out, delimiter=";")
        for number, row in enumerate(reader):
            if number > count:
                break
            writer.writerow(row)
    return target


@pytest.fixture(scope="package")
def matrix(tmp_path_factory, refdata) -> Matrix:
    original = passwords._HASHER
    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    home = tmp_path_factory.mktemp("matrix")
    instance = open_instance(Settings(home=home, management_token=MANAGEMENT_TOKEN))
    secret_file = _first_rows(refdata / "logement" / "logements-sociaux-finances-a-paris.csv", home / "secret.csv", 300)
    with instance.session() as s:
        services.create_dataset(s, SECRET, SECRET_TITLE, portals=["public", "internal"])
        services.create_dataset(s, META, "Départements (métadonnées publiques)", portals=["public", "internal"])
        services.create_dataset(s, OPEN, "Régions", portals=["public"])
    operations.load_file(instance, SECRET, secret_file, publish=True)
    operations.load_file(instance, META, refdata / "referentiels" / "cog2026_departements.csv", publish=True)
    operations.load_file(instance, OPEN, refdata / "referentiels" / "cog2026_regions.csv", publish=True)
    note = home / "note.txt"
    note.write_text("Contenu interne QZXW\n", encoding="utf-8")
    attachment_id = operations.attach(instance, SECRET, note, title=ATTACHMENT_TITLE, name="note-qzxw.txt")

    keys: dict[str, str] = {}
    with instance.session() as s:
        secret, meta, opened = (services.get_dataset(s, ref) for ref in (SECRET, META, OPEN))
        open_uid = opened.uid
        for name in ("arr13", "masque", "lecteurs"):
            auth.create_group(s, name)
        auth.set_dataset_security(s, secret, visibility="restricted",
                                  record_filters={"arr13": f'code_postal = "{ALLOWED_CP}"'},
                                  hidden_fields={"masque": [HIDDEN]})
        for group in ("arr13", "masque", "lecteurs"):
            auth.grant(s, secret, "group", group)
        auth.set_dataset_security(s, meta, visibility="restricted", metadata_public=True)
        users = {login: auth.create_user(s, login, role=role) for login, role in
                 [("nogrant", "viewer"), ("v13", "viewer"), ("vmask", "viewer"), ("pub", "publisher"),
                  ("root", "admin"), ("lecteur", "viewer")]}
        auth.add_member(s, auth.get_group(s, "arr13"), users["v13"])
        auth.add_member(s, auth.get_group(s, "masque"), users["vmask"])
        auth.add_member(s, auth.get_group(s, "lecteurs"), users["lecteur"])
        auth.grant(s, secret, "user", "pub")
        for name, login in [("nogrant", "nogrant"), ("arr13", "v13"), ("masque", "vmask"), ("publisher", "pub"),
                            ("admin", "root"), ("valid_key", "lecteur"), ("expired_key", "root"),
                            ("revoked_key", "root")]:
            key, keys[name] = auth.create_api_key(s, users[login], name)
            if name == "expired_key":
                key.expires_at = datetime(2025, 1, 1, tzinfo=UTC)
            if name == "revoked_key":
                s.flush()
                auth.revoke_api_key(s, key.id)
        _, keys["narrow_key"] = auth.create_api_key(s, users["root"], "narrow", scopes=["read"], datasets=[open_uid],
                                                    expires_at=datetime.now(UTC) + timedelta(days=30))
    callers = {c.name: c for c in [
        Caller("anonymous", None, "unknown"),
        Caller("nogrant", keys["nogrant"], "unknown"),
        Caller("arr13", keys["arr13"], "rows"),
        Caller("masque", keys["masque"], "fields"),
        Caller("publisher", keys["publisher"], "all"),
        Caller("admin", keys["admin"], "all", sees_meta_records=True),
        Caller("valid_key", keys["valid_key"], "all"),
        Caller("expired_key", keys["expired_key"], "refused", sees_open=False, sees_meta=False),
        Caller("revoked_key", keys["revoked_key"], "refused", sees_open=False, sees_meta=False),
        Caller("narrow_key", keys["narrow_key"], "unknown", sees_meta=False),
    ]}
    row_canaries, kept, total, allowed = _canaries(secret_file)
    assert len(row_canaries) >= 10 and len(kept) >= 3, "the file no longer offers canaries"
    client = TestClient(create_app(instance))
    admin = {"Authorization": f"Apikey {keys['admin']}"}
    found = client.get(f"/api/explore/v2.1/catalog/datasets/{SECRET}/records", headers=admin,
                       params={"where": f'{HIDDEN} = "{row_canaries[0]}"', "include_links": "true", "limit": 1}).json()
    record_id = found["results"][0]["_id"]
    passwords._HASHER = original
    yield Matrix(client, instance, callers, row_canaries, kept, total, allowed, record_id, attachment_id, open_uid)
    instance.store.close()
