"""Errors the harness raises for bad input; the command line prints them as one line."""


class HSTError(Exception):
    """A user-facing error: bad input, a bad config key, a file that is not what it claims to be."""


class ConfigError(HSTError, KeyError):
    """A config key that does not exist, or a value of the wrong kind."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(HSTError):
    """A missing, corrupt or mismatched image or dataset."""


class DownloadError(HSTError):
    """A download that failed on every source, or that returned the wrong thing."""


class CheckpointError(HSTError):
    """A file that is not a checkpoint of this model."""
