"""The data home's folders are their owner's alone once the data folder is made private
(``store.private_root``): the attachments folder stayed readable by every local account (0755 of
0644 files), a restricted dataset's notice included (``operations.attach``); an upgraded home's
attachments folder is made private when the instance starts, not only when a file is attached."""

from __future__ import annotations

import stat

from portail.catalog import services
from portail.operations import attach
from tests.conftest import make_instance


def test_attachments_are_their_owners_alone(tmp_path):
    """A restricted dataset's notice is not readable by the machine's other accounts, and an
    attachments folder an earlier release made 0755 loses the others' access."""
    instance = make_instance(tmp_path / "home")
    folder = instance.settings.home / "attachments"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # as an earlier release left it, whatever the umask
    notice = tmp_path / "notice.txt"
    notice.write_text("budget 2027")
    with instance.session() as s:
        services.create_dataset(s, "projet", "Projet")
    attach(instance, "projet", notice)
    assert stat.S_IMODE(folder.stat().st_mode) & 0o007 == 0
    instance.store.close()


def test_an_upgraded_homes_attachments_folder_is_made_private_at_start(tmp_path):
    """f3002ca made the attachments folder private when a file was attached: an upgraded home's,
    0755, stayed readable by every account of the machine until then."""
    folder = tmp_path / "home" / "attachments"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    make_instance(tmp_path / "home").store.close()
    assert folder.stat().st_mode & 0o777 == 0o750
