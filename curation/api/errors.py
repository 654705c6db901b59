"""API error shape: Django ValidationErrors from services become 400s, like DRF's own."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
        else:
            detail = {"detail": exc.messages[0] if len(exc.messages) == 1 else exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
