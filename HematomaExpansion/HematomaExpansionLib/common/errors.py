"""Exceptions raised on bad input, so every interface can report them the same way."""


class InputError(ValueError):
    """Bad user input: the message says what is wrong, with which file or node, and what to do."""


class SegmentExistsError(InputError):
    """A segment of that name exists already; replacing it needs the user's confirmation."""


class ModelError(ValueError):
    """A model bundle that cannot be used: missing, tampered, wrong schema or extractor identity."""


class OperationCancelledError(Exception):
    """The user cancelled a long operation between two of its stages."""
