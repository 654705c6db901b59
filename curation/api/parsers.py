"""Request body parsers that bound what a client can make the server hold: JSON nested at most MAX_DEPTH deep.

A body such as `[[[[...]]]]` 100,000 levels deep makes Python's json module raise RecursionError (a 500);
anything that did parse still has to be walked, copied and stored by the services. Both are refused here
with a 400 before a view sees the data.
"""

from __future__ import annotations

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64


def depth_exceeds(value, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects in `value` nest more than `limit` deep (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))
    return False


def too_deep_message(limit: int = MAX_DEPTH) -> str:
    return f"JSON parse error - nested more than {limit} levels deep."


def loads_bounded(text: str | bytes, limit: int = MAX_DEPTH):
    """json.loads for user-supplied text (e.g. a JSON string inside a form field): ValueError when malformed,
    ParseError when nested too deep."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ParseError(too_deep_message(limit)) from None
    if depth_exceeds(value, limit):
        raise ParseError(too_deep_message(limit))
    return value


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser (strict: no NaN or Infinity) that refuses bodies nested more than `max_depth` deep."""

    max_depth = MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep_message(self.max_depth)) from None
        if depth_exceeds(data, self.max_depth):
            raise ParseError(too_deep_message(self.max_depth))
        return data
