"""The one exception type the library raises for user-facing problems."""


class PuresoundError(Exception):
    """A problem the user can fix (bad file, model or option); the CLI prints it as one line."""
