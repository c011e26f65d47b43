"""Assembly: the one place that turns a configuration into concrete parts and hands them to the loop."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk import __version__
from kiosk.builders import build_chain, build_scanners, build_source, load_access, load_status, load_trust, source_kind
from kiosk.camera import FrameGrabber, FrameSource
from kiosk.clock import Clock, SystemClock
from kiosk.commands import Command
from kiosk.config import KioskConfig, PolicyConfig
from kiosk.credentials import SubjectKeyer
from kiosk.decode.debounce import Debouncer
from kiosk.decode.reader import FrameReader
from kiosk.hardware import Feedback
from kiosk.loop import Gate, ScanLoop
from kiosk.metrics import LoopMetrics
from kiosk.ops.diagnose import diagnose
from kiosk.ops.frametap import FrameTap, chain_observers
from kiosk.ops.notify import Notifier
from kiosk.ops.statuspage import StatusPage, StatusPageError
from kiosk.ops.statusreport import Readings, heartbeat, store_state
from kiosk.ops.supervise import Supervisor
from kiosk.outputs import build_outputs
from kiosk.policy.snapshot import Bearings, Snapshot
from kiosk.published import Published
from kiosk.scanner.framing import Scan
from kiosk.scanner.reader import ScannerThread
from kiosk.secrets import load_or_create_secret
from kiosk.store import EventStore
from kiosk.store.retention import Retention
from kiosk.store.salvage import Recovery, open_store
from kiosk.store.venuebook import VenueBook
from kiosk.sync.client import CentralClient
from kiosk.sync.configsync import PEERS_FILE
from kiosk.sync.diagnostics import Diagnostics
from kiosk.sync.effective import with_central_policy, with_enrolment
from kiosk.sync.enrol import once_heartbeat, run_once
from kiosk.sync.identity import Enrolment, NotEnrolled, load_key
from kiosk.sync.updates import Updates
from kiosk.sync.worker import SyncStats, SyncTimers, SyncWorker
from kiosk.update.manifest import ReleaseError, load_public_key
from kiosk.venue.claims import VenueClaims
from kiosk.venue.discovery import Directory
from kiosk.venue.link import VenueLink
from kiosk.venue.peerclient import PeerClient
from kiosk.venue.peerserver import PeerServer
from kiosk.venue.peersfile import PeersFile
from kiosk.venue.worker import VenueWorker

log = logging.getLogger(__name__)


@dataclass
class Kiosk:
    """A running kiosk's parts, so the CLI can start, stop and report on them."""

    config: KioskConfig
    grabber: FrameGrabber
    loop: ScanLoop
    store: EventStore
    feedback: Feedback
    clock: Clock
    lists: Published[Snapshot]  # the lists in force: sync publishes, the loop and the status page read
    metrics: LoopMetrics = field(default_factory=LoopMetrics)
    sync: SyncWorker | None = None
    status_page: StatusPage | None = None
    started: float = field(default_factory=time.monotonic)
    store_recovery: Recovery | None = None  # a damaged database found at start, set aside and salvaged
    venue: VenueLink | None = None  # the venue's other gates (docs/venue-state.md)
    scanners: list[ScannerThread] = field(default_factory=list)  # scanner modules beside the camera
    osdp: Any = None  # the OSDP reader's output, when an access panel decides (docs/osdp.md)

    def start(self) -> None:
        self.grabber.start()
        for scanner in self.scanners:
            scanner.start()
        if self.sync is not None:
            self.sync.start()
        if self.venue is not None:
            self.venue.start()
        if self.status_page is not None:
            try:
                self.status_page.start()
            except StatusPageError as exc:  # the gate matters more than its page: say so and go on
                log.error("%s", exc)

    def run(self, stop: threading.Event, *, until_end: bool = False) -> None:
        self.loop.run(stop, until_end=until_end)

    def close(self) -> None:
        """Release every output (the relay first), stop capture and sync, close the database; each step runs."""
        try:
            self.feedback.close()
        finally:
            try:
                self.grabber.stop()
                for scanner in self.scanners:
                    scanner.stop()
                if self.sync is not None:
                    self.sync.stop()
                if self.venue is not None:
                    self.venue.stop()
                if self.status_page is not None:
                    self.status_page.stop()
            finally:
                self.store.close()

    @property
    def sync_status(self) -> Published[SyncStats] | None:
        """What sync has done, as the record it publishes (None: not syncing)."""
        return None if self.sync is None else self.sync.status

    def heartbeat(self, store: EventStore) -> dict[str, Any]:
        """What the centre's dashboard shows about this kiosk (no personal data)."""
        return heartbeat(self, store)

    def store_state(self) -> dict[str, Any]:
        """The store's faults: not recording now (and why), commits failed, a damaged database set aside."""
        return store_state(self)


def assemble(
    config: KioskConfig,
    *,
    source: FrameSource | None = None,
    feedback: Feedback | None = None,
    clock: Clock | None = None,
    lockstep: bool | None = None,
    notifier: Notifier | None = None,
) -> Kiosk:
    """Build a kiosk from `config`, every part complete when made; tests and the demo may hand in their own
    source, feedback or clock. With `notifier` (systemd's), the loop feeds the watchdog and the status line."""
    clock = clock or SystemClock()
    config, enrolment = with_enrolment(config)
    policy_base = config.policy  # the config file's: the centre's settings are laid over it, now and at each pull
    config = with_central_policy(config)
    source = source or build_source(config.camera.source, config.camera)
    lockstep = (not config.camera.realtime and not source.live) if lockstep is None else lockstep
    grabber = FrameGrabber(source, lockstep=lockstep, reopen_s=config.camera.reopen_s, clock=clock.monotonic)
    scans: queue.SimpleQueue[Scan] = queue.SimpleQueue()
    scanners = build_scanners(config.scanners, partial(_hand_over, scans, grabber))
    reader = FrameReader(build_chain(config.decode))
    keyer = SubjectKeyer(load_or_create_secret(config.secret_path))
    commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
    outputs = None
    if feedback is None:
        # `lists` is made below; a badge is looked up only once the kiosk runs, in the access list then in force
        feedback = outputs = build_outputs(config, commands, badge_of=lambda key: lists.current.access.badge(key))
    trust = load_trust(config.trust_list_path, config.policy.trust_list_warn_h)
    status = load_status(config.status_list_path)
    access = load_access(config.access_list_path, config.policy.mode)
    store, recovery = open_store(config.database_path, clock=clock)  # last: nothing after it can fail and leave it open
    if recovery is not None:
        feedback.fault("store-damaged")  # the technician must see it: the damaged file waits to be copied off
    syncing = enrolment is not None and config.sync.enabled
    venue = build_venue(config, enrolment, clock) if syncing and enrolment is not None else None
    claims = venue.claims if venue is not None else None
    bearings = Bearings(clock, store, config.device.venue, config.device.direction, config.device.id, claims)
    lists = Published(Snapshot(trust, status, config.policy, bearings, access))
    metrics = LoopMetrics()
    tap = FrameTap() if config.status_page.enabled else None  # what the status page shows of the camera
    doorbell = threading.Event()  # rung by the loop after each commit, so that sync uploads at once
    sync_status = Published(SyncStats()) if syncing else None
    readings = Readings(
        config,
        grabber,
        metrics,
        lists,
        sync_status,
        clock,
        time.monotonic(),
        recovery,
        scanners,
        outputs.osdp if outputs is not None else None,
    )
    on_tick = Supervisor(notifier, readings, store).tick if notifier is not None else _nothing
    debounce = config.debounce
    loop = ScanLoop(
        frames=grabber,
        reader=reader,
        debouncer=Debouncer(
            debounce.cooldown_s,
            until_absent=debounce.until_absent,
            absent_s=debounce.absent_s,
            confirm_frames=debounce.confirm_frames,
        ),
        keyer=keyer,
        lists=lists,
        store=store,
        feedback=feedback,
        clock=clock,
        gate=Gate(config.device.id, config.device.venue, config.device.direction),
        metrics=metrics,
        stall_s=0 if source_kind(config.camera.source) == "none" else config.camera.stall_s,
        commands=commands,
        review_timeout_s=config.feedback.gpio.review_timeout_s,
        on_frame=chain_observers(outputs.screen.frame if outputs is not None and outputs.screen else None, tap),
        after_commit=_ring(doorbell.set if syncing else None, venue.wake if venue is not None else None),
        on_tick=on_tick,
        scans=scans,
        scan_debouncer=Debouncer(debounce.cooldown_s),  # a scanner reads a code once: no frames to confirm in
        panel="osdp" in config.feedback.outputs,  # an access panel decides: docs/osdp.md
    )
    page = StatusPage(config.status_page, readings, tap=tap, commands=commands) if tap is not None else None
    sync = None
    if enrolment is not None and syncing:
        sync = build_sync(
            config,
            enrolment,
            clock,
            heartbeat=partial(heartbeat, readings),
            lists=lists,
            policy_base=policy_base,
            alarm=feedback.fault,
            retention=Retention(config.database_path, config.store.retention_days),
            doorbell=doorbell,
            status=sync_status,
        )
    return Kiosk(
        config,
        grabber,
        loop,
        store,
        feedback,
        clock,
        lists,
        metrics,
        sync,
        page,
        readings.started,
        recovery,
        venue,
        scanners,
        readings.osdp,
    )


def _nothing() -> None:
    pass


def _hand_over(scans: queue.SimpleQueue[Scan], grabber: FrameGrabber, scan: Scan) -> None:
    """A scanner's code to the loop, which is woken from its wait for a frame to take it at once."""
    scans.put(scan)
    grabber.wake()


def _ring(*bells: Callable[[], None] | None) -> Callable[[], None]:
    """One call after each commit that rings every bell given (sync's uploader, the venue's pusher)."""
    rung = [bell for bell in bells if bell is not None]
    if not rung:
        return _nothing
    if len(rung) == 1:
        return rung[0]

    def ring() -> None:
        for bell in rung:
            bell()

    return ring


def build_venue(config: KioskConfig, enrolment: Enrolment, clock: Clock) -> VenueLink | None:
    """The link to the venue's other gates (docs/venue-state.md); None when turned off."""
    settings = config.venue
    if not settings.enabled:
        return None
    key, device, place = load_key(config.state_dir), enrolment.device_id, enrolment.venue
    ca_bundle = str(config.sync.ca_bundle) if config.sync.ca_bundle else enrolment.ca_bundle
    book = VenueBook(config.database_path, device, place)
    peers = PeersFile(config.state_dir / PEERS_FILE).current
    server = PeerServer(
        settings.host, settings.port, device_id=device, key=key, venue=place, peers=peers, book=book, wall=clock.wall
    )
    directory = Directory(device, place, settings.peers)
    talk = PeerClient(device, key, place, peers, clock.wall)
    timeout = settings.claim_timeout_ms / 1000
    claims_centre = CentralClient(enrolment.server, device, key, ca_bundle=ca_bundle)  # the loop thread's own
    pull_centre = CentralClient(enrolment.server, device, key, ca_bundle=ca_bundle)  # the venue thread's own
    worker = VenueWorker(
        book=book,
        centre=pull_centre,
        peers=talk,
        directory=directory,
        wall=clock.wall,
        server=server,
        mdns=settings.mdns,
        pull_s=settings.pull_s,
    )
    return VenueLink(book, server, directory, worker, VenueClaims(claims_centre, talk, directory, timeout))


def build_sync(
    config: KioskConfig,
    enrolment: Enrolment,
    clock: Clock,
    *,
    heartbeat: Callable[[EventStore], dict[str, Any]],
    lists: Published[Snapshot] | None = None,
    policy_base: PolicyConfig | None = None,
    alarm: Callable[[str], None] = lambda reason: None,
    retention: Retention | None = None,
    doorbell: threading.Event | None = None,
    status: Published[SyncStats] | None = None,
) -> SyncWorker:
    """The sync worker: the running kiosk's (its thread started with the kiosk) and `kiosk sync --once`'s."""
    sync = config.sync
    ca_bundle = str(sync.ca_bundle) if sync.ca_bundle else enrolment.ca_bundle
    client = CentralClient(enrolment.server, enrolment.device_id, load_key(config.state_dir), ca_bundle=ca_bundle)
    updates = None
    if config.updates.enabled:
        key = load_release_key(config.updates.public_key)
        updates = Updates(config.state_dir, client, key, __version__, clock.wall)
    return SyncWorker(
        database=config.database_path,
        state_dir=config.state_dir,
        client=client,
        clock=clock,
        heartbeat=heartbeat,
        lists=lists,
        policy_base=policy_base,
        alarm=alarm,
        timers=SyncTimers(sync.poll_s, sync.heartbeat_s, sync.config_s),
        batch=sync.batch,
        retention=retention,
        doorbell=doorbell,
        status=status,
        updates=updates,
        confirm_s=config.updates.confirm_s,
        diagnostics=Diagnostics(config.state_dir, client, partial(diagnose, config)),
    )


def load_release_key(path: Path) -> Ed25519PublicKey | None:
    """The release key baked into the image; None (no update is taken, said once) when it is missing or bad."""
    try:
        return load_public_key(path.read_bytes())
    except FileNotFoundError:
        log.info("%s: no release key on this box: updates from the centre are not taken", path)
    except (OSError, ReleaseError) as exc:
        log.error("%s: the release key cannot be used (%s): updates from the centre are not taken", path, exc)
    return None


def sync_once(config: KioskConfig) -> dict[str, Any]:
    """`kiosk sync --once`: the backlog pushed, the config pulled and a heartbeat sent, in this process."""
    config, enrolment = with_enrolment(config)
    if enrolment is None:
        raise NotEnrolled("not enrolled: run kiosk enroll --server URL --code CODE first")
    worker = build_sync(config, enrolment, SystemClock(), heartbeat=once_heartbeat)
    store = EventStore(config.database_path)
    try:
        return run_once(worker, store)
    finally:
        store.close()
