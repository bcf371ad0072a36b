"""Explore v1's ``q`` reads a number written with an exponent past an integer's range as a
float: ``q=x>1e20`` on a double field was written as a 21-digit integer, which ODSQL refused
("integer out of range", a 400) though the value is a plain double."""

from __future__ import annotations

from tests.conftest import Published, operator_client, published_instance, semicolon_csv


def test_v1_numbers_with_an_exponent_past_an_integers_range_read_as_floats(tmp_path):
    """``q=x>1e20`` on a double field: the exponent form was written as a 21-digit integer,
    which ODSQL refused ("integer out of range", a 400) though the value is a plain double;
    an integer field compared with it matches nothing, as a float bound does."""
    rows = [{"id": "1", "x": "1.5e20"}, {"id": "2", "x": "2"}, {"id": "3", "x": "1e300"}]
    instance = published_instance(tmp_path / "home", Published("t", semicolon_csv(tmp_path / "t.csv", rows)))
    client = operator_client(instance)

    def hits(q: str) -> int:
        answer = client.get("/api/records/1.0/search/", params={"dataset": "t", "q": q})
        assert answer.status_code == 200, answer.text
        return answer.json()["nhits"]

    assert [hits(q) for q in ("x>1e20", "x:1.5e20", "x>=1e300", "x:[1e19 TO 1e21]", "id>1e20", "x<2e0")] == [2, 1, 1, 1, 0, 0]
    instance.store.close()
