"""Bulk inserts at import scale: PostgreSQL COPY, with bulk_create as the portable fallback.

Django's bulk_create spends most of its time building model instances and adapting parameters;
COPY streams plain tuples. Rows are given as dicts of field name -> value; fields left out get
their model default (auto_now_add fields get `now`), because COPY bypasses Django's defaults.
With `with_ids`, ids are taken from the table's sequence first (one query), so callers get them
back without a second lookup by key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connection, models
from django.utils import timezone

from .models.fields import TokenArray, TokenArrayField

BULK_BATCH = 2000


def _plan(model: type[models.Model], with_id: bool):
    """Per column: (field, attname, name, default value as written, is_json).

    Defaults are evaluated once per batch (they are constants such as "", {} or now), and JSON
    defaults are serialised once, because this runs for every cell of 10^5-row batches.
    """
    now = timezone.now()
    plan = []
    for field in model._meta.concrete_fields:
        if field.primary_key and not with_id:
            continue
        is_json = isinstance(field, models.JSONField)
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            default = now
        else:
            # Django's own rule: the declared default, else "" for non-null text fields, else None.
            default = field.get_default()
            if is_json and default is not None:
                default = json.dumps(default)
            elif isinstance(field, TokenArrayField):
                default = TokenArray(sorted(set(default or ())))
        plan.append((field, field.attname, field.name, default, is_json))
    return plan


def _row(plan, row: dict) -> list:
    out = []
    for _field, attname, name, default, is_json in plan:
        if attname in row:
            v = row[attname]
        elif name in row:
            v = row[name]
        else:
            out.append(default)
            continue
        out.append(json.dumps(v) if is_json and v is not None else v)
    return out


def allocate_ids(model: type[models.Model], n: int) -> list[int]:
    """n new primary keys from the table's sequence (PostgreSQL)."""
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, n])
        return [r[0] for r in cursor.fetchall()]


# COPY text format: backslash, tab, newline and carriage return are escaped; NULL is \N.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value) -> str:
    kind = type(value)
    if value is None:
        return "\\N"
    if kind is str:
        return value.translate(_ESCAPES)
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float:
        return repr(value)
    if kind is dict or kind is list:
        return json.dumps(value).translate(_ESCAPES)
    if kind is TokenArray:
        # A PostgreSQL array literal, every element quoted (label names hold spaces, commas and brackets).
        quoted = ('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in value)
        return ("{" + ",".join(quoted) + "}").translate(_ESCAPES)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def prepare_copy(model: type[models.Model], rows: list[dict], with_ids: bool = False) -> tuple[str, str, list[int]]:
    """(COPY statement, its text payload, allocated ids): the CPU part of a COPY, doable ahead of time."""
    ids = allocate_ids(model, len(rows)) if with_ids else []
    pk = model._meta.pk.attname
    keys = list(rows[0])  # the writer builds every row of a batch with the same keys
    plan = _plan(model, with_id=True)
    by_name = {}
    for field, attname, name, default, is_json in plan:
        by_name[attname] = by_name[name] = (field, default, is_json)
    # Columns whose value is the same in every row of the batch (defaults, the project id, empty
    # manifest fields) are written once as a suffix instead of being converted cell by cell.
    constant = {}
    for key in keys:
        first = rows[0][key]
        if not isinstance(first, dict | list) and all(row[key] == first for row in rows):
            constant[key] = first
    keys = [k for k in keys if k not in constant]
    given = [by_name[k][0] for k in keys]
    given_attnames = {f.attname for f in given}
    constant_attnames = {by_name[k][0].attname: v for k, v in constant.items()}
    rest = [
        (field, constant_attnames.get(field.attname, default))
        for field, _a, _n, default, _j in plan
        if field.attname not in given_attnames and not field.primary_key
    ]
    columns = [f.column for f in given] + [f.column for f, _ in rest] + ([model._meta.pk.column] if with_ids else [])
    suffix = "".join("\t" + _text(value) for _f, value in rest)
    lines = []
    if with_ids:
        for row, new_id in zip(rows, ids, strict=True):
            row[pk] = new_id
            lines.append(
                "\t".join([_text(row[k]) for k in keys]) + (suffix if keys else suffix[1:]) + "\t" + str(new_id)
            )
    else:
        for row in rows:
            lines.append("\t".join([_text(row[k]) for k in keys]) + (suffix if keys else suffix[1:]))
    table = connection.ops.quote_name(model._meta.db_table)
    column_sql = ", ".join(connection.ops.quote_name(c) for c in columns)
    return f"COPY {table} ({column_sql}) FROM STDIN", "\n".join(lines) + "\n", ids


def run_copy(statement: str, payload: str) -> None:
    """Send a prepared COPY on this thread's connection (network and server time only)."""
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write(payload)


def _copy_postgres(model: type[models.Model], rows: list[dict], with_ids: bool) -> list[int]:
    statement, payload, ids = prepare_copy(model, rows, with_ids)
    run_copy(statement, payload)
    return ids


def insert_rows(model: type[models.Model], rows: Iterable[dict], *, with_ids: bool = False) -> list[int]:
    """Insert rows (dicts keyed by field name or attname, same keys in every row); ids when `with_ids`."""
    rows = list(rows)
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _copy_postgres(model, rows, with_ids)
    plan = _plan(model, with_id=False)
    objs = []
    for row in rows:
        values = _row(plan, row)
        kwargs = {
            attname: json.loads(v) if is_json and isinstance(v, str) else v
            for (_f, attname, _n, _d, is_json), v in zip(plan, values, strict=True)
        }
        objs.append(model(**kwargs))
    created = model.objects.bulk_create(objs, batch_size=BULK_BATCH)
    return [obj.pk for obj in created] if with_ids else []
