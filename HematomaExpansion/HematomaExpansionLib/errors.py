"""Exceptions raised on bad input, so every interface can report them the same way."""


class InputError(ValueError):
    """Bad user input: the message says what is wrong, with which file or node, and what to do."""


class ModelError(ValueError):
    """A model bundle that cannot be used: missing, tampered, wrong schema or extractor identity."""
