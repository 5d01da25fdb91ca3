"""The error type of bad user input, for the command line's error boundary (`genjax.cli.main`)."""


class UsageError(ValueError):
    """Bad input: an unknown config key or variant, a value of the wrong type, a missing file.

    The command line prints its message as one line and exits with status 2. It is a ValueError,
    as every other bad-input error of genjax is, so code that catches ValueError still does."""
