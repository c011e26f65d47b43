"""kiosk: QR gate software. Reads the QR code a person shows, decides offline, records the passage first."""

__version__ = "0.1.0"
