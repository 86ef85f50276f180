"""The one exception type the library raises for user-facing problems."""


class PuresoundError(Exception):
    """A problem the user can fix (bad file, bad model, bad option); the CLI prints it as one line."""
