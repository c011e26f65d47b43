"""kiosk-central: the server the gate kiosks sync with (ingest, devices, lists) and the centre's tools."""

__version__ = "0.1.0"
