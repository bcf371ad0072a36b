"""The attachments folder (a restricted dataset's notices) is its owner's alone, as the data
folder is (``store.private_root``), an upgraded home's too: made private when the instance
starts, not only when a file is attached."""

from __future__ import annotations

from tests.conftest import make_instance


def test_an_upgraded_homes_attachments_folder_is_made_private_at_start(tmp_path):
    """f3002ca made the attachments folder private when a file was attached: an upgraded home's,
    0755, stayed readable by every account of the machine until then."""
    folder = tmp_path / "home" / "attachments"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    make_instance(tmp_path / "home").store.close()
    assert folder.stat().st_mode & 0o777 == 0o750
