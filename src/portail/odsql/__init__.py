"""ODSQL, the query language of the Opendatasoft Explore API v2.1: text → tree → SQL.

The face of the package::

    parse(clause, text) -> ast.Node            # "select" | "where" | "group_by" | "order_by"
    compile_query(query, fields, security=None) -> sqlglot.exp.Select
    compile_plan(query, fields, security=None) -> Plan   # the SELECT + its output columns
    to_sql(expression, dialect="duckdb", owned=False) -> str   # owned: the tree is the caller's to change, not copied
    merge_clusters(select, heaviest) -> select   # geo_cluster()'s merging (the heaviest cells), once every condition is in
    merges_clusters(select) -> bool    # does it change this select (its conditions then read twice)?
    multivalued_items(field, sql) -> list expression | None   # how a multivalued value splits
    multivalued_values(field, sql) -> list expression | None  # the values a record counts in (facets, group_by)
    holding(field, sql, value) -> condition | None  # one of its values is value() ("x" in f, refine)
    Query, Security, Plan, ODSQLError
    RECORD_ID                    # "recordid", v2.0's and v1's technical field: a record's id
    Technical                    # the values of v2.0's other technical fields (Query.technical)
    record_size_expression(fields) -> expression   # a record's size (v2.0's record_size, record.size)

The compiled SELECT reads the unqualified table ``records`` (the store points it at a
version's file). User text never reaches SQL as text: names resolve against the dataset
schema, constants become sqlglot literals. Inside: ``grammar.lark`` + ``parser.py`` (text →
``ast``), ``functions.py`` (the function registry), ``compiler.py`` (tree → sqlglot),
``technical.py`` (v2.0's technical fields), ``clusters.py`` (geo_cluster()'s second step).
"""

from portail.odsql.clusters import merge_clusters, merges_clusters
from portail.odsql.compiler import RECORD_ID, Plan, Query, Security, compile_plan, compile_query, to_sql
from portail.odsql.errors import ODSQLError
from portail.odsql.kinds import holding, multivalued_items, multivalued_values
from portail.odsql.parser import parse
from portail.odsql.technical import Technical, record_size_expression

__all__ = ["ODSQLError", "Plan", "Query", "RECORD_ID", "Security", "Technical", "compile_plan", "compile_query", "holding", "merge_clusters", "merges_clusters",
           "multivalued_items", "multivalued_values", "parse", "record_size_expression", "to_sql"]
