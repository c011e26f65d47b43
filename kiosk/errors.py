"""The one root error of the kiosk, mixed with built-in types so callers may catch either."""


class KioskError(Exception):
    """Base class of every error the kiosk raises on purpose."""


class SourceError(KioskError, RuntimeError):
    """A frame source could not be opened or stopped delivering frames."""


class StoreError(KioskError, RuntimeError):
    """The event store could not commit (disk full, I/O error, corrupt file).

    `damaged` is True when SQLite said the file itself is damaged (corrupt, not a database): that does not mend
    by waiting, unlike a full disk or a lock; the kiosk exits so that the next start sets the file aside.
    """

    def __init__(self, message: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged
