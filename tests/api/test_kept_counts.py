"""Counts of filtered records are kept per version file (``api.explore_service._COUNTS``): a
version never changes, so a kept count is the count; a new version is counted afresh."""

from __future__ import annotations

from portail.api import explore_service as es
from portail.operations import load_file
from tests.conftest import Published, published_instance


def test_a_kept_count_holds_for_its_version_only(tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("code;n\n" + "".join(f"{'A' if i % 3 else 'B'};{i}\n" for i in range(30)), encoding="utf-8")
    inst = published_instance(tmp_path / "home", Published("codes", first))
    try:
        count = lambda: es.query_records(inst, es.get_visible_dataset(inst, "public", "codes"),  # noqa: E731
                                         refine=["code:B"], where=["n >= 3"], limit=0).total_count
        assert count() == count() == 9  # 3, 6, ..., 27
        second = tmp_path / "second.csv"
        second.write_text("code;n\n" + "".join(f"B;{i}\n" for i in range(40)), encoding="utf-8")
        load_file(inst, "codes", second, publish=True)
        assert count() == 37
        # Another filter on the same version is another count.
        assert es.query_records(inst, es.get_visible_dataset(inst, "public", "codes"), refine=["code:B"],
                                where=["n >= 30"], limit=0).total_count == 10
    finally:
        inst.store.close()


def test_a_kept_compilation_is_never_changed_by_the_calls_that_use_it(tmp_path):
    """Calls with the same ODSQL share its compilation (``_COMPILED``): each extends a copy, so
    one call's refinements, ids or page never reach the next one's query."""
    path = tmp_path / "codes.csv"
    path.write_text("code;n\n" + "".join(f"{'A' if i % 3 else 'B'};{i}\n" for i in range(30)), encoding="utf-8")
    inst = published_instance(tmp_path / "home", Published("codes", path))
    try:
        def page(**params):
            return es.query_records(inst, es.get_visible_dataset(inst, "public", "codes"), where=["n >= 3"], **params)

        refined = page(refine=["code:B"], limit=100)
        assert refined.total_count == len(refined.results) == 9 and {r["code"] for r in refined.results} == {"B"}
        with_ids = page(limit=100, with_ids=True)
        assert with_ids.total_count == len(with_ids.results) == 27 and all("_id" in r for r in with_ids.results)
        plain = page(limit=5, offset=20)
        assert [r["n"] for r in plain.results] == [23, 24, 25, 26, 27] and "_id" not in plain.results[0]
        assert page(refine=["code:A"], limit=0).total_count == 18
        assert page(exclude=["code:A"], limit=3).results == refined.results[:3]
    finally:
        inst.store.close()


def test_a_page_read_from_the_index_counts_its_own_matches(tmp_path):
    """A page of a selective search or code look-up comes from a row-id list, which also gives
    the count: two searches whose first pages hold the same rows still count their own
    matches, at every page and with limit=0, as the file says."""
    path = tmp_path / "shops.csv"
    lines = [f"{'boulangerie' if i < 40 else 'fromagerie'} {'rare' if i < 12 else 'banale'};{i:05d}" for i in range(400)]
    path.write_text("nom;code\n" + "\n".join(lines) + "\n", encoding="utf-8")
    inst = published_instance(tmp_path / "home", Published("shops", path))
    try:
        def search(where: list[str], **params):
            return es.query_records(inst, es.get_visible_dataset(inst, "public", "shops"), where=where, **params)

        expected = {'"boulangerie"': 40, '"boulangerie rare"': 12, "code = '00007'": 1}
        for words, total in expected.items():
            for params in ({"limit": 5}, {"limit": 5, "offset": 5}, {"limit": 100}, {"limit": 0}):
                page = search([words], **params)
                assert page.total_count == total, (words, params)
                assert len(page.results) == min(params["limit"], max(total - params.get("offset", 0), 0))
        first, narrower = search(['"boulangerie"'], limit=5), search(['"boulangerie rare"'], limit=5)
        assert first.results == narrower.results and (first.total_count, narrower.total_count) == (40, 12)
    finally:
        inst.store.close()
