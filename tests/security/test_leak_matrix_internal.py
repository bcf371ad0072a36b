"""The leak matrix's private-portal half (``/interne``): the checks of ``test_leak_matrix``,
in a file of their own so that ``pytest -n 2 --dist loadfile`` runs the two halves on both
workers at once instead of one worker carrying the whole matrix."""

from __future__ import annotations

import pytest

from tests.security.test_leak_matrix import CALLERS, leak_matrix


@pytest.mark.slow
@pytest.mark.parametrize("portal", ["internal"])
@pytest.mark.parametrize("who", CALLERS)
def test_leak_matrix(matrix, portal, who):
    leak_matrix(matrix, portal, who)
