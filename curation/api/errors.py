"""API error shape: Django ValidationErrors from services become 400s, like DRF's own.

Input the views did not foresee must still be a 4xx, never a 500: a value the database cannot hold (a NUL
character, an integer beyond 64 bits) and JSON nested deeper than Python recurses become 400s with a message.
"""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import Conflict

logger = logging.getLogger(__name__)


class ConflictError(exceptions.APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
        else:
            detail = {"detail": exc.messages[0] if len(exc.messages) == 1 else exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Conflict):
        exc = ConflictError(str(exc))
    elif isinstance(exc, DataError | OverflowError):
        # Logged: each one marks a parameter that a view should have range-checked itself.
        logger.warning("Unchecked input reached the database in %s: %s", _view_name(context), exc)
        exc = exceptions.ValidationError({"detail": "A value in the request is out of range or not allowed."})
    elif isinstance(exc, RecursionError):
        exc = exceptions.ValidationError({"detail": "The request is nested too deeply."})
    return drf_exception_handler(exc, context)


def _view_name(context) -> str:
    view = (context or {}).get("view")
    return type(view).__name__ if view is not None else "?"
