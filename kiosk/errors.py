"""The one root error of the kiosk, mixed with built-in types so callers may catch either."""


class KioskError(Exception):
    """Base class of every error the kiosk raises on purpose."""


class SourceError(KioskError, RuntimeError):
    """A frame source could not be opened or stopped delivering frames."""


class StoreError(KioskError, RuntimeError):
    """The event store could not commit (disk full, I/O error, corrupt file)."""
