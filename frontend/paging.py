"""Keyset pages ordered by a value and then the id, with the cursor as "value:id" in the query string."""

from django.db.models import Q, QuerySet


def value_keyset_page(
    qs: QuerySet, field: str, after: str, *, value_desc: bool, id_desc: bool, size: int
) -> tuple[list, str | None]:
    """One page of `qs` after the cursor `after`; returns the rows and the next cursor (None on the last page).

    No OFFSET: a page deep into 10^6 rows costs what the first one does. A malformed cursor starts at the top.
    """
    if after.count(":") == 1:
        try:
            value, last_id = float(after.split(":")[0]), int(after.split(":")[1])
        except ValueError:
            value = None
        if value is not None:
            beyond = "lt" if value_desc else "gt"
            id_beyond = "lt" if id_desc else "gt"
            qs = qs.filter(Q(**{f"{field}__{beyond}": value}) | Q(**{field: value, f"id__{id_beyond}": last_id}))
    ordering = ("-" if value_desc else "") + field, ("-" if id_desc else "") + "id"
    rows = list(qs.order_by(*ordering)[: size + 1])
    page = rows[:size]
    next_after = f"{getattr(page[-1], field)}:{page[-1].pk}" if len(rows) > size else None
    return page, next_after
