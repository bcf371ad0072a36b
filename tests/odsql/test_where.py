"""where clauses compiled, run on DuckDB, and checked against the same filter in Python."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import shapely

from portail.odsql import ODSQLError
from tests.odsql import oracle
from tests.odsql.conftest import NOW, ROWS, expect, ids, refusal, run

PARIS = (2.3522, 48.8566)
SQUARE = "POLYGON((4 45, 5 45, 5 46, 4 46, 4 45))"
BOWTIE = "POLYGON((4 45, 5 46, 5 45, 4 46, 4 45))"  # its edges cross at (4.5, 45.5)

CASES = [
    # numbers, with nulls never matching a comparison
    ("pop > 500000", lambda r: r.pop > 500000),
    ("pop >= 0 and pop <= 100000", lambda r: 0 <= r.pop <= 100000),
    ("pop = 0", lambda r: r.pop == 0),
    ("pop != 0", lambda r: r.pop is not None and r.pop != 0),
    ("pop <> 0", lambda r: r.pop is not None and r.pop != 0),
    ("score < 0 or score > 50", lambda r: r.score < 0 or r.score > 50),
    ("score = 15", lambda r: r.score == 15),
    ("score = 7.25", lambda r: r.score == 7.25),
    ("pop > -1", lambda r: r.pop > -1),
    ("pop = \"0\"", lambda r: r.pop == 0),  # a string read as a number
    # two-valued logic: not (comparison with null) is true
    ("not pop > 500000", lambda r: not (r.pop is not None and r.pop > 500000)),
    ("not (pop != 0)", lambda r: r.pop is None or r.pop == 0),
    ("not (pop > 100000 or score > 10)",
     lambda r: not ((r.pop is not None and r.pop > 100000) or (r.score is not None and r.score > 10))),
    ("not not pop > 500000", lambda r: r.pop > 500000),
    # arithmetic; division by zero gives null
    ("pop * 2 > 1000000", lambda r: r.pop * 2 > 1000000),
    ("score + 1 >= 16", lambda r: r.score + 1 >= 16),
    ("pop / 0 is null", lambda r: True),
    ("pop / 2 = 86282.5", lambda r: r.pop / 2 == 86282.5),
    ("-score > 0", lambda r: -r.score > 0),
    # text: exact equality, case-sensitive
    ('city = "Paris"', lambda r: r.city == "Paris"),
    ('city = "paris"', lambda r: r.city == "paris"),
    ("city : 'Paris'", lambda r: r.city == "Paris"),
    ('city != "Paris"', lambda r: r.city is not None and r.city != "Paris"),
    ('city > "M"', lambda r: r.city > "M"),
    ('name = "He said \\"hi\\"; DROP TABLE records; --"', lambda r: r.id == 10),
    # booleans
    ("flag", lambda r: r.flag is True),
    ("not flag", lambda r: r.flag is not True),
    ("flag is true", lambda r: r.flag is True),
    ("flag is false", lambda r: r.flag is False),
    ("flag is not true", lambda r: r.flag is not True),
    ("flag = false", lambda r: r.flag is False),
    ("flag : FALSE", lambda r: r.flag is False),
    # is null
    ("name is null", lambda r: r.name is None),
    ("name is not null", lambda r: r.name is not None),
    ("not name is null", lambda r: r.name is not None),
    ("shape is not null", lambda r: r.shape is not None),
    # ranges and lists
    ("pop in [0..31000]", lambda r: 0 <= r.pop <= 31000),
    ("pop in ]0..31000[", lambda r: 0 < r.pop < 31000),
    ("pop in [0 TO 31000[", lambda r: 0 <= r.pop < 31000),
    ("score in [-2.5..7.25]", lambda r: -2.5 <= r.score <= 7.25),
    ("not pop in [0..31000]", lambda r: not (r.pop is not None and 0 <= r.pop <= 31000)),
    ('city in ("Paris", \'Lyon\')', lambda r: r.city in ("Paris", "Lyon")),
    ('not city in ("Paris")', lambda r: r.city != "Paris"),
    ("pop in (0, 5)", lambda r: r.pop in (0, 5)),
    ('city in ("Paris", null)', lambda r: r.city == "Paris"),
    ("pop in ()", lambda r: False),
    # multivalued membership (separator ",", values trimmed)
    ('"a" in tags', lambda r: r.tags is not None and "a" in [t.strip() for t in r.tags.split(",")]),
    ('"c" in tags', lambda r: r.tags is not None and "c" in [t.strip() for t in r.tags.split(",")]),
    ('not "a" in tags', lambda r: not (r.tags is not None and "a" in [t.strip() for t in r.tags.split(",")])),
    ('"Paris" in city', lambda r: r.city == "Paris"),  # a single-valued field: equality
    # dates
    ("d >= date'2021'", lambda r: r.d >= date(2021, 1, 1)),
    ("d < \"2020-01-01\"", lambda r: r.d < date(2020, 1, 1)),
    ("d in [date'2020'..date'2020-12-31']", lambda r: date(2020, 1, 1) <= r.d <= date(2020, 12, 31)),
    ("d = date'2020-02-29'", lambda r: r.d == date(2020, 2, 29)),
    ("d = \"2020/02/29\"", lambda r: r.d == date(2020, 2, 29)),
    ("d > date'2020-01-15T12:00:00Z'", lambda r: r.d > date(2020, 1, 15)),
    ("d >= date'2020-01-15T00:00:00Z'", lambda r: r.d >= date(2020, 1, 15)),
    ("ts >= date'2021'", lambda r: r.ts >= datetime(2021, 1, 1, tzinfo=timezone.utc)),
    ("ts < date'2018-07-14T08:15:31Z'", lambda r: r.ts < datetime(2018, 7, 14, 8, 15, 31, tzinfo=timezone.utc)),
    ("ts = date'2021-07-01T06:00:00+02:00'", lambda r: r.id == 9),
    ("ts >= \"2021-06-01T23:30:00Z\"", lambda r: r.ts >= datetime(2021, 6, 1, 23, 30, tzinfo=timezone.utc)),
    ("ts > d", lambda r: r.ts > oracle.as_moment(r.d)),
    ("d > now(years=-1)", lambda r: oracle.as_moment(r.d) > NOW - timedelta(days=365)),
    ("ts >= now(days=-500, hour=0, minute=0, second=0)",
     lambda r: r.ts >= (NOW - timedelta(days=500)).replace(hour=0, minute=0, second=0)),
    ("ts < now()", lambda r: r.ts < NOW),
    # full text: accent- and case-insensitive, every word whole somewhere in the visible text
    # fields, "word*" a prefix
    ('"etienne"', lambda r: oracle.fulltext(r, "etienne")),
    ('"PARIS"', lambda r: oracle.fulltext(r, "PARIS")),
    ('"saint etienne"', lambda r: oracle.fulltext(r, "saint etienne")),
    ('"arrond*"', lambda r: oracle.fulltext(r, "arrond*")),
    ('"arrond"', lambda r: oracle.fulltext(r, "arrond")),  # only a prefix: no row
    ('"hay"', lambda r: oracle.fulltext(r, "hay")),
    ('"STRASSE"', lambda r: oracle.fulltext(r, "strasse")),  # ß spelled out
    ('not "paris"', lambda r: not oracle.fulltext(r, "paris")),
    ('"paris" and not "12e"', lambda r: oracle.fulltext(r, "paris") and not oracle.fulltext(r, "12e")),
    ('""', lambda r: True),
    # search(): one word, the last, so a prefix
    ('search(name, "haÿ")', lambda r: oracle.fulltext(r, "haÿ*", ("name",))),
    ('search(*, "lyon")', lambda r: oracle.fulltext(r, "lyon*")),
    ('search("évry")', lambda r: oracle.fulltext(r, "evry*")),
    ('search(name, city, "courcouronnes")', lambda r: oracle.fulltext(r, "courcouronnes*", ("name", "city"))),
    ('search(name, "arrond")', lambda r: oracle.fulltext(r, "arrond*", ("name",))),
    ('suggest(name, "arr")', lambda r: r.name is not None and any(w.startswith("arr") for w in oracle.words(r.name))),
    ('suggest(name, "rondiss")', lambda r: False),
    ('startswith(name, "Par")', lambda r: r.name is not None and r.name.startswith("Par")),
    ('startswith(name, "par")', lambda r: r.name is not None and r.name.startswith("par")),
    ('startswith(name, city, "Évry")', lambda r: any(v is not None and v.startswith("Évry") for v in (r.name, r.city))),
    # like: words of the field
    ('name like "saint"', lambda r: oracle.like(r.name, "saint")),
    ('name like "etien*"', lambda r: oracle.like(r.name, "etien*")),
    ('name like "etien"', lambda r: oracle.like(r.name, "etien")),
    ('city like "paris"', lambda r: oracle.like(r.city, "paris")),
    ('name like "les roses"', lambda r: oracle.like(r.name, "les roses")),
    ('not name like "paris"', lambda r: not oracle.like(r.name, "paris")),
    # ASCII patterns take a cheap prefilter on the folded text: accents, ligatures, case and
    # separators in the field must not make it drop a match
    ('name like "SAINT-etienne"', lambda r: oracle.like(r.name, "SAINT-etienne")),
    ('name like "hay les*"', lambda r: oracle.like(r.name, "hay les*")),
    ('name like "strasse"', lambda r: oracle.like(r.name, "strasse")),
    ('name like "evry"', lambda r: oracle.like(r.name, "evry")),
    ('name like "12e"', lambda r: oracle.like(r.name, "12e")),
    ('name like "l hay"', lambda r: oracle.like(r.name, "l hay")),
    # geo
    ("within_distance(geo, geom'POINT(2.3522 48.8566)', 10km)", lambda r: oracle.haversine(r.geo, PARIS) <= 10_000),
    ("within_distance(geo, geom'POINT(2.3522 48.8566)', 5mi)", lambda r: oracle.haversine(r.geo, PARIS) <= 8046.72),
    ("distance(geo, geom'POINT(2.3522 48.8566)', 30000m)", lambda r: oracle.haversine(r.geo, PARIS) <= 30_000),
    ("not within_distance(geo, geom'POINT(2.3522 48.8566)', 10km)",
     lambda r: not (r.geo is not None and oracle.haversine(r.geo, PARIS) <= 10_000)),
    ("in_bbox(geo, 45, 4, 46, 5)", lambda r: 4 <= r.geo[0] <= 5 and 45 <= r.geo[1] <= 46),
    ("in_bbox(geo, 46, 5, 45, 4)", lambda r: 4 <= r.geo[0] <= 5 and 45 <= r.geo[1] <= 46),
    ("in_bbox(geo, 40.5, -1, 49, 3)", lambda r: -1 <= r.geo[0] <= 3 and 40.5 <= r.geo[1] <= 49),
    (f"within(geo, geom'{SQUARE}')", lambda r: r.point.within(shapely.from_wkt(SQUARE))),
    ("intersects(shape, geom'POINT(4.5 45.5)')", lambda r: r.polygon.intersects(shapely.Point(4.5, 45.5))),
    ("intersects(shape, geom'{\"type\": \"Point\", \"coordinates\": [4.8, 45.7]}')",
     lambda r: r.polygon.intersects(shapely.Point(4.8, 45.7))),
    (f"disjoint(shape, geom'{SQUARE}')", lambda r: r.polygon.disjoint(shapely.from_wkt(SQUARE))),
    (f"geometry(geo, geom'{SQUARE}', WITHIN)", lambda r: r.point.within(shapely.from_wkt(SQUARE))),
    (f"geometry(geo, geom'{SQUARE}')", lambda r: r.point.intersects(shapely.from_wkt(SQUARE))),
    # the v2.0 documentation's example spells the mode INTERSECT
    (f"geometry(geo, geom'{SQUARE}', INTERSECT)", lambda r: r.point.intersects(shapely.from_wkt(SQUARE))),
    (f"polygon(geo, geom'{SQUARE}')", lambda r: r.point.within(shapely.from_wkt(SQUARE))),
    ("within_distance(shape, geom'POINT(4.5 45.5)', 1m)", lambda r: r.polygon.intersects(shapely.Point(4.5, 45.5))),
    # a self-intersecting literal is repaired (two triangles meeting at a point): predicates agree
    (f"within(geo, geom'{BOWTIE}')", lambda r: r.point.within(shapely.make_valid(shapely.from_wkt(BOWTIE)))),
    (f"intersects(geo, geom'{BOWTIE}')", lambda r: r.point.intersects(shapely.make_valid(shapely.from_wkt(BOWTIE)))),
    (f"intersects(shape, geom'{BOWTIE}')", lambda r: r.polygon.intersects(shapely.make_valid(shapely.from_wkt(BOWTIE)))),
    (f"disjoint(shape, geom'{BOWTIE}')", lambda r: r.polygon.disjoint(shapely.make_valid(shapely.from_wkt(BOWTIE)))),
    # functions in conditions
    ("length(name) > 10", lambda r: len(r.name) > 10),
    ('lower(city) = "paris"', lambda r: r.city.lower() == "paris"),
    ("year(d) = 2020", lambda r: r.d.year == 2020),
    ("month(ts) = 1 and day(ts) = 15", lambda r: r.ts.month == 1 and r.ts.day == 15),
    ('date_format(d, "yyyy") = "2021"', lambda r: r.d.year == 2021),
    ("ifnull(score, 0) = 0", lambda r: (r.score if r.score is not None else 0) == 0),
    ("true", lambda r: True),
    ("false", lambda r: False),
    ("null", lambda r: False),
]


@pytest.mark.parametrize("text, predicate", CASES, ids=[c[0] for c in CASES])
def test_where(con, text, predicate):
    assert ids(con, text) == expect(predicate)


def test_repeated_where_clauses_are_anded(con):
    assert ids(con, "pop > 100000", 'city = "Paris"') == expect(lambda r: r.pop > 100000 and r.city == "Paris")


def test_where_in_another_timezone(con):
    # midnight of 2021-01-01 in Paris is 2020-12-31T23:00Z: row 8 (23:59:59Z) is on the 1st there
    assert ids(con, "ts >= date'2021'", timezone="Europe/Paris") == expect(
        lambda r: r.ts >= datetime(2020, 12, 31, 23, 0, tzinfo=timezone.utc))
    assert ids(con, "year(ts) = 2022", timezone="Europe/Paris") == expect(
        lambda r: oracle.local(r.ts, "Europe/Paris").year == 2022)
    assert ids(con, "hour(ts) = 8", timezone="Europe/Paris") == expect(
        lambda r: oracle.local(r.ts, "Europe/Paris").hour == 8)


@pytest.mark.parametrize("text, message", [
    ("nope = 1", "Unknown field: nope"),
    ("count(*) > 1", "count() is not allowed in where"),
    ("unknown_function(pop)", "unknown_function()"),
    ("pop", "A int value is not a condition"),
    ('"a" + 1 > 0', "The operator + applies to numbers"),
    ("name > 1 and flag > true", "Booleans compare with = or != only"),
    ("geo = geom'POINT(1 2)'", "cannot be compared"),
    ("d < \"yesterday\"", "not a date"),
    ("d < date'2020-13-45'", "Invalid date literal"),
    ("within(geo, geom'POINT(1 2')", "Invalid geometry literal"),
    ("within_distance(geo, geom'POINT(1e308 1e308)', 1km)", "Invalid geometry literal"),  # made distances NaN
    ("within_distance(geo, geom'POINT(1 2)', 10furlongs)", "The distance must be a number with a unit"),
    ("within_distance(geo, geom'POINT(1 2)', 10d)", "Unknown distance unit: d"),
    ("distance(geo, geom'POINT(1 2)') < 10", "needs a radius"),
    ("length(pop) > 1", "Argument 1 of length() must be text, not int"),
    ("lower()", "lower() takes 1 argument(s), 0 given"),
    ("sum(distinct pop) > 1", "not allowed in where"),
    ("year(d, d) = 1", "takes 1 argument(s), 2 given"),
    ("name like city", "pattern of like must be a string literal"),
    ("pop like \"1\"", "like applies to text"),
    ("vector_similarity_threshold(\"x\", 0.5)", "only available on the catalog"),
    ("flag is true = 1", "Unexpected"),
    ("10km > 1", "number with a unit"),
    ("now(days=1.5) > d", "must be an integer constant"),
    ("now(fortnights=1) > d", "unknown now() parameter"),
    ("now(1) > d", "named parameters"),
    ("search(name, city)", "must be a string literal"),
    ("search(pop + 1, \"x\")", "must be field names"),
    ("in_bbox(geo, \"a\", 1, 2, 3)", "Argument 2 of in_bbox() must be double or int, not text"),
    ("geometry(geo, geom'POINT(1 2)', TOUCHES)", "INTERSECTS, DISJOINT or WITHIN"),
    ("name = \"a\x00b\"", "NUL"),
    ("pop = 99999999999999999999", "out of range"),
    ("pop = \"many\"", "not a number: 'many'"),
])
def test_where_errors(con, text, message):
    with pytest.raises(ODSQLError) as error:
        ids(con, text)
    assert error.value.clause == "where"
    assert message in error.value.detail


def test_unknown_field_message_is_opendatasoft_s(con):
    with pytest.raises(ODSQLError) as error:
        ids(con, "anzahl > 1")
    assert error.value.message == ("ODSQL query is malformed: Unknown field: anzahl "
                                   "Clause(s) containing the error(s): where.")


def test_the_injection_row_is_data(con):
    assert [r.id for r in ROWS if r.name and "DROP" in r.name] == ids(con, '"drop table"')


#: Opendatasoft's documented example for intersects(), disjoint() and within(): its ring ends
#: about 3 cm from where it starts.
OPEN_RING = ("POLYGON((2.331161 48.869762, 2.3600006 48.87574, 2.373046875 48.85101, 2.3503875 48.84209, "
             "2.3376846 48.85451, 2.3311614 48.869762))")


def test_a_ring_left_open_is_closed_in_wkt_as_in_geojson():
    from shapely.geometry import shape

    from portail.odsql.literals import parse_geometry

    coordinates = [[float(n) for n in pair.split()] for pair in OPEN_RING[9:-2].split(", ")]
    closed = shape({"type": "Polygon", "coordinates": [coordinates + coordinates[:1]]})
    for text in (OPEN_RING, '{"type": "Polygon", "coordinates": [%s]}' % coordinates):
        geometry = parse_geometry(text)
        assert geometry.equals_exact(closed, 0) and list(geometry.exterior.coords)[-1] == tuple(coordinates[0])
    for bad in ("POLYGON((1 2))", "POINT(1)", "nothing", "POLYGON((a b, c d, e f))"):
        with pytest.raises(ValueError):
            parse_geometry(bad)


@pytest.mark.parametrize("where", [
    "within_distance(geo, geom'POINT(2.35 95)', 10000km)",  # lat and lon swapped, or a typo: past the pole
    "intersects(geo, geom'POLYGON((2 48, 3 48, 3 95, 2 48))')",
    '''intersects(geo, geom'{"type": "Point", "coordinates": [2.35, -91]}')''',
    "in_bbox(geo, 100, 2, 48, 3)",
    "in_bbox(geo, 48, 2, -95.5, 3)",
])
def test_a_latitude_past_a_pole_is_refused_not_wrapped(con, where):
    """A latitude beyond ±90 is a mistake said as one (a 400 on the API), not read "modulo the
    sphere": within 10,000 km of latitude 95 answered nearly every record. Longitudes past ±180
    still wrap (a map's view across the antimeridian sends them)."""
    with pytest.raises(ODSQLError) as error:
        ids(con, where)
    assert "90" in error.value.message and "where" in error.value.message


def test_a_longitude_past_180_still_wraps(con):
    assert ids(con, "in_bbox(geo, -90, -540, 90, 540)") == ids(con, "geo is not null")


# ---- ranges and NOT as Opendatasoft's ODSQL reference writes them: an ``IN`` range has two
# literal bounds (no open one), ``NOT`` is a prefix (``f NOT IN …`` is no ODSQL); 400s saying what to write


@pytest.mark.parametrize("where", ["pop in [100000..*]", "pop in [*..100000]", "pop: [1..*]", "pop in [100000..]",
                                   "pop in [..10]", "pop in [1 to *]", "ts in ]date'2020'..*]", "pop in [1.."])
def test_an_open_range_bound_is_a_400_saying_what_to_write(con, where):
    assert "no open bound" in refusal(con, select="id", where=[where])


@pytest.mark.parametrize("where", ["pop in [1..10]]", "range(pop, [*, 10])", "a * * b", "pop in [1..10"])
def test_other_syntax_errors_give_no_range_hint(con, where):
    assert "open bound" not in refusal(con, select="id", where=[where])


def test_not_goes_before_the_condition(con):
    for where, word in [("pop not in [1..100000]", "in"), ("city not in ('Paris')", "in"), ('"a" not in tags', "in"),
                        ('name not like "paris"', "like")]:
        assert f"not f {word} …" in refusal(con, select="id", where=[where]), where
    assert "negation" not in refusal(con, select="id", where=["pop not 3"])
    # ODSQL's own spelling works, for ranges, lists and membership
    kept = ids(con, "pop in [1..100000]")
    assert ids(con, "not pop in [1..100000]") == sorted(r.id for r in ROWS if r.id not in kept)
    assert ids(con, "not city in ('Paris')") == sorted(r.id for r in ROWS if r.id not in ids(con, "city in ('Paris')"))
    assert ids(con, 'not "a" in tags') == sorted(r.id for r in ROWS if r.id not in ids(con, '"a" in tags'))
