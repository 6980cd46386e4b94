"""The one error type of the data loaders: what was expected, where, and how to fix it."""


class DataError(ValueError):
    """Data that is missing or malformed; the message names what was expected and where."""
