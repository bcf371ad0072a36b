"""A file's own words never make the server blame its disk: a refused line reading "No space left
on device", or a file named so, is the file's error (a 400 naming it), not a 507."""

from __future__ import annotations

import pytest

from portail.catalog import services
from portail.ingest.errors import IngestError, StorageFull
from portail.operations import load_file


@pytest.mark.parametrize("name, body", [
    ("mesures.csv", 'a;b\n1;2\n"No space left on device;3\n'),  # an unclosed quote: the engine echoes the line
    ("No space left on device.csv", ""),  # an empty file, named so
    ("read-only file system.csv", ""),
])
def test_the_files_words_are_the_files_error(instance, tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with instance.session() as session:
        services.create_dataset(session, "d", "d")
    with pytest.raises(IngestError) as refused:
        load_file(instance, "d", path, publish=True)
    assert not isinstance(refused.value, StorageFull)
    assert "disk is full" not in str(refused.value) and "read-only" not in str(refused.value).split(":", 1)[-1]
