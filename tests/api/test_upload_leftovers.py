"""What a process killed mid-upload or mid-load left in the uploads folder (an upload's folder, a
download) goes at the next upload once a day old; another process's upload under way, younger,
and whatever else the folder holds stay."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from tests.conftest import Published, operator_client, published_instance

MGMT = "/api/management/v1"
DAY = 24 * 3600


def aged(path: Path, seconds: float) -> Path:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))
    return path


def test_a_killed_uploads_leftovers_go_at_the_next_upload(tmp_path):
    source = tmp_path / "communes.csv"
    source.write_text("code,nom\n01001,Abergement\n", encoding="utf-8")
    instance = published_instance(tmp_path / "home", Published("communes", source, "Communes"))
    uploads = Path(instance.settings.uploads_dir)
    uploads.mkdir(parents=True, exist_ok=True)
    killed = uploads / "upload-killed"
    killed.mkdir()
    (killed / "big.csv").write_bytes(b"code,nom\n" * 1000)
    aged(killed / "big.csv", 2 * DAY)
    aged(killed, 2 * DAY)
    (uploads / "fetch-abc-data.csv").write_bytes(b"code\n")
    aged(uploads / "fetch-abc-data.csv", 2 * DAY)
    (uploads / "upload-under-way").mkdir()  # another process's, a minute old
    aged(uploads / "upload-under-way", 60)
    (uploads / "notes.txt").write_text("x")
    aged(uploads / "notes.txt", 3 * DAY)  # not Portail's kind: left alone
    try:
        client = operator_client(instance)
        answer = client.post(f"{MGMT}/datasets/communes/data", params={"publish_now": True},
                             files={"file": ("c.csv", io.BytesIO(b"code,nom\n01002,Ambronay\n"), "text/csv")})
        assert answer.status_code == 200, answer.text
        assert sorted(p.name for p in uploads.iterdir()) == ["notes.txt", "upload-under-way"]
    finally:
        instance.store.close()
