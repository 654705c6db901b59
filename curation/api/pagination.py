"""Cursor pagination by id: stable, index-backed pages whatever the table size.

A cursor comes back from the client: its position must fit the ordering column (an id within 64 bits, a
finite number) or the page is a 404 like any other invalid cursor, never a database error.
"""

import math

from django.http import Http404
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

MAX_ID = 2**63 - 1


def checked_id(value) -> int:
    """An id from a URL (`<int:...>` takes any digits): 404 when it cannot be a row id."""
    if not 1 <= int(value) <= MAX_ID:
        raise Http404("No such id.")
    return int(value)


class CheckedCursorMixin:
    """Refuses cursors whose position is not a value of the first ordering column."""

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        field = self.ordering[0] if isinstance(self.ordering, list | tuple) else self.ordering
        try:
            if field.lstrip("-") == "id":
                ok = 0 <= int(cursor.position) <= MAX_ID
            else:
                ok = math.isfinite(float(cursor.position))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def get_schema_operation_parameters(self, view):
        """The cursor and page size, described with their bounds (DRF leaves page_size unbounded)."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = "The opaque cursor from a previous page's next or previous link."
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = f"Results per page (default {self.page_size}, at most {self.max_page_size})."
        return parameters


class IdCursorPagination(CheckedCursorMixin, CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class PlanBudgetCursorPagination(IdCursorPagination):
    """The study list's pages, read under the planner's time budget (curation.services.studies)."""

    def paginate_queryset(self, queryset, request, view=None):
        from ..services.studies import within_plan_budget

        return within_plan_budget(
            lambda: super(PlanBudgetCursorPagination, self).paginate_queryset(queryset, request, view)
        )
