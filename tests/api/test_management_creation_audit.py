"""The management API's dataset creation is audited as its caller's, its owner given included,
and so is the deletion that undoes it when its first load fails (it was recorded as nobody's):
``operations.created_for_first_load``."""

from __future__ import annotations

import pytest

from portail.auth import audit
from portail.operations import created_for_first_load
from tests.conftest import make_instance


def test_a_creation_whose_first_load_fails_is_undone_in_its_callers_name(tmp_path):
    """The management API's creation is audited as its caller's (its owner given included);
    when its first load failed, the deletion that undoes it was recorded as nobody's."""
    instance = make_instance(tmp_path / "home")
    with pytest.raises(RuntimeError), created_for_first_load(instance, "essai", "Essai", actor="alice", ip="10.0.0.7",
                                                             owner="bob"):
        raise RuntimeError("the load failed")
    with instance.session() as s:
        events = [(e.action, e.actor, e.ip) for e in audit.recent(s, target="dataset:essai")]
    assert sorted(events) == [("dataset.delete", "alice", "10.0.0.7"), ("dataset.owner", "alice", "10.0.0.7")]
    instance.store.close()
