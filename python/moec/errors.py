"""The one exception type the command line turns into ``moec: error: ...`` and exit code 2."""


class MoecError(Exception):
    """A user-facing error: bad config, unsupported value, malformed file."""
