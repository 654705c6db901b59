"""A list-of-tokens column that filters fast on PostgreSQL and still works on SQLite.

On PostgreSQL it is `text[]`: a GIN index answers "has all of these tokens" by intersecting posting lists,
and ANALYZE keeps per-element frequencies, so the planner can tell a rare token from a common one. On
SQLite (the embedded default, small projects) it is the same list as JSON text, searched with json_each.
"""

from __future__ import annotations

import json

from django.db import models
from django.db.models import Lookup


class TokenArray(tuple):
    """A value bound for a token column (curation.bulk writes it as a PostgreSQL array literal in COPY)."""


class TokenArrayField(models.Field):
    description = "A set of short strings (sorted, no duplicates)"

    def db_type(self, connection):
        return "text[]" if connection.vendor == "postgresql" else "text"

    def get_db_prep_value(self, value, connection, prepared=False):
        tokens = sorted(set(value or ()))
        return tokens if connection.vendor == "postgresql" else json.dumps(tokens)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return []
        return list(value) if isinstance(value, list) else json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return sorted(set(value or ()))


@TokenArrayField.register_lookup
class HasAll(Lookup):
    """`field__has_all=[tokens]`: the row holds every token (none given: every row)."""

    lookup_name = "has_all"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        tokens = sorted(set(self.rhs))
        if not tokens:
            return "1 = 1", []
        if connection.vendor == "postgresql":
            return f"{lhs} @> %s::text[]", [*params, tokens]
        marks = ", ".join(["%s"] * len(tokens))
        # Only placeholders and the compiled column go into the text; the tokens are parameters.
        sql = f"(SELECT COUNT(DISTINCT value) FROM json_each({lhs}) WHERE value IN ({marks})) = %s"  # noqa: S608
        return sql, [*params, *tokens, len(tokens)]
