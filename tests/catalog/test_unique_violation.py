"""Only a unique constraint met by the slower of two identical creations is a 409 (a race);
another refused constraint (a CHECK, a NOT NULL) is a bug of ours and must stay a 500 with its
traceback logged (a review found every IntegrityError answered "it exists already")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from portail.auth.models import User
from portail.catalog.db import transaction, unique_violation


def _refused(catalog, **row) -> IntegrityError:
    with pytest.raises(IntegrityError) as refused, transaction(catalog) as s:
        s.execute(insert(User).values(created_at=datetime.now(UTC), is_active=True, failed_logins=0, **row))
    return refused.value


def test_a_unique_violation_is_told_from_other_constraints(catalog):
    with transaction(catalog) as s:
        s.execute(insert(User).values(login="ana", role="viewer", created_at=datetime.now(UTC), is_active=True,
                                      failed_logins=0))
    assert unique_violation(_refused(catalog, login="ana", role="viewer"))
    assert not unique_violation(_refused(catalog, login="bob", role="king"))  # the role CHECK
