"""The local event store: SQLite that survives power cuts, committed before the gate moves."""

from kiosk.store.events import EventStore, StoreStatus

__all__ = ["EventStore", "StoreStatus"]
