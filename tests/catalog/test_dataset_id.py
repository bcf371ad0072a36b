"""A refused dataset_id says which rule it breaks."""

from __future__ import annotations

import pytest

from portail.catalog import services, transaction


def test_a_too_long_id_is_refused_for_its_length(catalog):
    with transaction(catalog) as s:
        with pytest.raises(services.CatalogError, match=r"at most 200 characters \(300 given\)") as refused:
            services.create_dataset(s, "a" * 300, "Long")
        assert "lowercase" not in str(refused.value)
        services.create_dataset(s, "a" * 200, "Longest allowed")
        with pytest.raises(services.CatalogError, match=r"lowercase letters, digits, '-' and '_' only"):
            services.create_dataset(s, "Élus", "Accents")
        with pytest.raises(services.CatalogError, match=r"at most 200 characters \(201 given\)"):
            services.rename_dataset(s, services.get_dataset(s, "a" * 200), "b" * 201)
