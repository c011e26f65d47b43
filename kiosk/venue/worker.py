"""The venue thread: brings the other gates' passages in from the centre, and takes this gate's passages out to
the other gates on the network, so that each gate's history is the venue's (docs/venue-state.md).

Woken after every commit (to push at once) and every `pull_s` otherwise. A gate that does not answer is sent
what it missed when it answers again; the centre is asked from the last cursor it gave. Nothing here blocks the
frame loop, and nothing is lost by a failure: the next round does it again, and a passage held twice is held once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kiosk.errors import StoreError
from kiosk.logs import Throttle
from kiosk.store.venuebook import KEEP_S, Passage, VenueBook
from kiosk.sync.client import CentralClient, Refused, Retryable, Revoked
from kiosk.venue.discovery import Directory
from kiosk.venue.peerclient import PeerClient, Unreachable
from kiosk.venue.peerserver import PeerServer

log = logging.getLogger(__name__)
PURGE_EVERY_S = 600.0


class VenueWorker:
    def __init__(
        self,
        *,
        book: VenueBook,
        centre: CentralClient | None,
        peers: PeerClient,
        directory: Directory,
        wall: Callable[[], float],
        server: PeerServer | None = None,
        mdns: bool = False,
        pull_s: float = 5.0,
        doorbell: threading.Event | None = None,
    ) -> None:
        self.book, self.centre, self.peers, self.directory, self.wall = book, centre, peers, directory, wall
        self.server, self.mdns = server, mdns
        self.pull_s = pull_s
        self.cursor = ""
        self._sent: dict[str, int] = {}  # address -> the last rowid of this gate's events that gate acknowledged
        self._wake = doorbell or threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="venue", daemon=True)
        self._throttle = Throttle(log, every_s=60.0)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.directory.close()
        if self.server is not None:
            self.server.stop()

    def open_server(self) -> None:
        """Once the venue has other gates: listen for them, and announce this gate by mDNS. A single gate opens
        no port; a port that is taken is said, and retried next round (the centre still links the gates)."""
        if self.server is None or self.server.running or not self.peers.peers():
            return
        try:
            self.server.start()
        except OSError as exc:
            self._throttle.error("venue-port", "venue.port %d: cannot listen (%s)", self.server.port, exc)
            return
        log.info("listening for the venue's other gates on port %d", self.server.port)
        if self.mdns:
            host = self.server.address[0]
            specific = host not in ("", "0.0.0.0")  # noqa: S104
            self.directory.announce(self.server.port, [host] if specific else None, host if specific else None)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        next_pull = next_purge = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                self.open_server()
                self.push()
                if now >= next_pull:
                    self.pull()
                    next_pull = now + self.pull_s
                if now >= next_purge:
                    self.book.purge(self.wall())
                    next_purge = now + PURGE_EVERY_S
            except StoreError as exc:
                self._throttle.error("venue-store", "venue passages not kept: %s", exc)
            except Exception:  # a bug must not end the venue thread: logged, and the next round tries again
                self._throttle.error("venue-round", "venue round failed; retrying", exc_info=True)
            self._wake.wait(max(0.0, min(self.pull_s, next_pull - time.monotonic())))
            self._wake.clear()

    def pull(self) -> int:
        """The other gates' passages the centre received since the last ask; how many were new here."""
        if self.centre is None or not self.peers.peers():
            return 0  # a venue's only gate has nobody's passages to learn
        new = 0
        try:
            for _ in range(20):  # at most 20,000 passages a round; the rest next round
                items, self.cursor = self.centre.venue_passages(self.cursor)
                new += self.book.hold([p for p in map(Passage.from_json, items) if p], self.wall())
                if len(items) < 1000:
                    break
        except (Retryable, Refused, Revoked) as exc:
            self._throttle.warning("venue-centre", "the centre did not give the venue's passages: %s", exc)
        return new

    def push(self) -> int:
        """This gate's passages each other gate has not acknowledged yet; how many were sent in all."""
        sent = 0
        for address in self.directory.addresses():
            last = self._sent.get(address)
            if last is None:
                last = self.book.first_rowid_since(self.wall() - KEEP_S)  # a gate met now gets the last day
            while True:
                passages, upto = self.book.own_after(last)
                if not passages:
                    break
                try:
                    self.peers.push(address, passages)
                except Unreachable as exc:
                    self._throttle.info(f"venue-peer-{address}", "gate not reached: %s", exc)
                    break
                sent += len(passages)
                last = upto
            self._sent[address] = last
        return sent
