"""The one exception type users see: its message is a one-line fix-it hint."""


class QKVError(ValueError):
    """Bad user input. ``str(err)`` is a single line that says how to fix it."""
