"""The venue's gates together, as one part of a running kiosk: the peer server, the directory of the other gates
(mDNS), the venue thread and the single-use claims. Built by the assembly (kiosk/app.py); started and stopped here."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.store.venuebook import VenueBook
from kiosk.venue.claims import VenueClaims
from kiosk.venue.discovery import Directory
from kiosk.venue.peerserver import PeerServer
from kiosk.venue.worker import VenueWorker


@dataclass
class VenueLink:
    book: VenueBook
    server: PeerServer
    directory: Directory
    worker: VenueWorker
    claims: VenueClaims

    def start(self) -> None:
        """Start the venue thread; it opens the peer server (and announces it) once the venue has other gates."""
        self.worker.start()

    def wake(self) -> None:
        """A passage was committed: push it to the other gates now."""
        self.worker.wake()

    def stop(self) -> None:
        self.worker.stop()  # and with it the peer server and the mDNS announcement
