"""Domain errors that services raise and every front end maps the same way (the API to a status code)."""


class Conflict(Exception):
    """The request is valid but the state of what it names forbids it now (HTTP 409): e.g. re-running
    an import whose upload has already been deleted."""
