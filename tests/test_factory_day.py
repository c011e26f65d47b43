"""A factory day (issue 15, "Show"): three real kiosks of one venue (the main entrance, the side entrance and the
exit) and a real centre on loopback, every link between them through a fault proxy the test can cut.

Each kiosk is the whole program (`assemble`): the frame loop reading QR codes the test shows to its camera, its
store, its sync thread, its venue thread and peer server, and the main entrance's status page with the guard's
visitor desk. It covers enrolled staff inside and outside their windows, a visitor registered and let out, a
single-use ticket tried at both entrances (with the centre reachable, with the centre unreachable, and with the
gates' network split as well), anti-passback across the entrance and the exit, a revoked badge, the evening's
"who is still inside" list and the double use the centre flags once everyone's uploads are in.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from conftest import CCCD_AN
from faultproxy import FaultPlan, FaultProxy, reset_before
from sqlalchemy import func, select, update
from test_loop import BLANK, scene

from central.accesspasses import double_uses, issue, revoke
from central.localtime import local_zone
from central.passkeys import load_pass_key
from central.people import import_groups, import_people
from central.schema import events, venues
from central.timeutil import utcnow
from central.visits import inside
from kiosk.app import Kiosk, assemble
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.events import Event
from kiosk.store import EventStore
from kiosk.sync.enrol import enrol_device

SECRET = bytes(range(32))
VENUE = "NM-1"
AN = CCCD_AN  # day shift
BINH = "001088012367||Trần Văn Bình|04021988|Nam|Gia Nghĩa|01012021"  # night shift
CHI = "001095005678||Lê Thị Chi|07071995|Nữ|Gia Nghĩa|01012021"  # badge, revoked
HA = "079196004821|025917345|Nguyễn Thị Thu Hà|12031996|Nữ|TP HCM|01012021"  # visitor, leaves
DUNG = "036185009876||Phạm Văn Dũng|09091985|Nam|Nam Định|01012021"  # visitor, stays
CUT = {reset_before(): 1.0}  # every request through the proxy: the connection is reset


class Camera:
    """A camera the test shows codes to: the frames of a code held up, then an empty view, at about 30 fps."""

    name, live, pace_fps = "shown", True, None

    def __init__(self) -> None:
        self.frames: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        time.sleep(1 / 30)  # a camera's pace: the grabber keeps only the newest frame
        try:
            return self.frames.get_nowait()
        except queue.Empty:
            return BLANK

    def show(self, text: str) -> None:
        for frame in scene(text):
            self.frames.put(frame)

    def close(self) -> None:
        pass


class Signals:
    """The gate's outputs, as the test sees them: each event signalled (after its commit), in order."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()

    def signal(self, event: Event) -> None:
        self.events.put(event)

    def fault(self, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Gate:
    name: str
    config: KioskConfig
    camera: Camera
    signals: Signals
    centre: FaultProxy  # this gate's way to the centre
    lan: dict[str, FaultProxy]  # its way to each other gate's peer server
    kiosk: Kiosk | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    shown: dict[str, float] = field(default_factory=dict)

    def serve(self, stop: threading.Event) -> None:
        """The kiosk as `kiosk run` runs it, in this thread (its database connection is this thread's)."""
        kiosk = assemble(self.config, source=self.camera, feedback=self.signals)
        try:
            assert kiosk.sync is not None and kiosk.sync.pull_config()  # the lists, the rules, the other gates
            kiosk.start()
            self.kiosk = kiosk
            self.ready.set()
            kiosk.run(stop)
        finally:
            kiosk.close()

    def present(self, text: str, timeout: float = 15.0) -> Event:
        again = self.shown.get(text, -60.0) + 1.5 - time.monotonic()
        if again > 0:
            time.sleep(again)  # the same person back at the same gate: after the debounce, as in life
        self.camera.show(text)
        self.shown[text] = time.monotonic()
        try:
            return self.signals.events.get(timeout=timeout)
        except queue.Empty:
            store = EventStore(self.config.database_path, read_only=True)
            recent = store.status(5).recent
            store.close()
            metrics = self.kiosk.metrics.copy() if self.kiosk is not None else None
            seen = (metrics.frames, metrics.frames_with_code, metrics.codes, metrics.store_fault) if metrics else None
            said = f"{self.name} decided nothing (frames, with a code, codes, store fault: {seen}); last: {recent}"
            raise AssertionError(said) from None

    def knows(self, subject_key: str, direction: str, timeout: float = 15.0) -> None:
        """Wait until this gate has heard of a passage of `subject_key` in `direction` at another gate."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            store = EventStore(self.config.database_path, read_only=True)
            try:
                last = store.last_accepted(subject_key, VENUE)
            finally:
                store.close()
            if last is not None and last[0] == direction:
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never heard of the passage {direction}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def windows_around(now: datetime) -> tuple[str, str]:
    """A window of today that is open now (the day shift) and one that is not (the night shift), local time."""
    local = now.astimezone(local_zone())
    day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][local.weekday()]
    start = max(0, local.hour - 1)
    open_now = f"{day} {start:02d}:00-{min(24, local.hour + 2):02d}:00"
    closed_hour = (local.hour + 6) % 24
    closed = f"{day} {closed_hour:02d}:00-{closed_hour + 1:02d}:00" if closed_hour < 23 else f"{day} 00:00-00:30"
    if local.hour < 2 and closed_hour == 0:
        closed = f"{day} 12:00-13:00"
    return open_now, closed


@pytest.fixture
def day(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with ExitStack() as stack:
        (tmp_path / "centre").mkdir()
        central = stack.enter_context(LocalCentral(tmp_path / "centre", SECRET))
        now = utcnow()
        open_now, closed = windows_around(now)
        code = central.venue_with_code(("67", "Đắk Nông"), (VENUE, "Nhà máy Gia Nghĩa"), "factory")
        numbers = {name: text.split("|")[0] for name, text in {"an": AN, "binh": BINH, "chi": CHI}.items()}
        key = load_pass_key(tmp_path / "centre" / "central.pass-key", announce=False)
        with central.engine.begin() as conn:
            rules = {"mode": "access", "strangers": "visitor", "anti_passback_s": 3600, "visit_hosts": ["Kho"]}
            conn.execute(update(venues).where(venues.c.code == VENUE).values(policy=rules))
            groups = f'name,windows\nca-ngay,"{open_now}"\nca-dem,"{closed}"\n'
            import_groups(conn, VENUE, groups.encode(), actor="test", now=now)
            people = f"cccd,groups\n{numbers['an']},ca-ngay\n{numbers['binh']},ca-dem\n"
            import_people(conn, VENUE, people.encode(), secret=SECRET, actor="test", now=now)
            from central.subjects import key_of_number

            badge = issue(
                conn, venue=VENUE, kind="badge", holder=key_of_number(numbers["chi"], SECRET), valid_from=now,
                valid_until=now + timedelta(days=30), single_use=False, key=key, issuer="VN-67", now=now, actor="test",
            )  # fmt: skip
            revoke(conn, badge.pass_id, now=now, actor="test", reason="badge lost")
            tickets = [
                issue(
                    conn,
                    venue=VENUE,
                    kind="ticket",
                    holder=None,
                    valid_from=now - timedelta(minutes=5),
                    valid_until=now + timedelta(hours=8),
                    single_use=True,
                    key=key,
                    issuer="VN-67",
                    now=now,
                    actor="test",
                )
                for _ in range(3)
            ]
        names = ("cong-chinh", "cong-phu", "cong-ra")
        peer_ports = {name: free_port() for name in names}
        to_centre = {name: stack.enter_context(FaultProxy(central.url, FaultPlan(paths=("/",)))) for name in names}
        lan = {
            (me, other): stack.enter_context(
                FaultProxy(f"http://127.0.0.1:{peer_ports[other]}", FaultPlan(paths=("/",)))
            )
            for me in names
            for other in names
            if other != me
        }
        gates: dict[str, Gate] = {}
        for name, direction in zip(names, ("in", "in", "out"), strict=True):
            config = KioskConfig.model_validate(
                {
                    "state_dir": str(tmp_path / name),
                    "device": {"direction": direction},
                    "sync": {"poll_s": 0.2},
                    "debounce": {"cooldown_s": 0.5, "absent_s": 0.3},  # the same person comes back within seconds
                    "venue": {
                        "host": "127.0.0.1",
                        "port": peer_ports[name],
                        "peers": [f"127.0.0.1:{lan[(name, o)].port}" for o in names if o != name],
                        "mdns": False,
                        "pull_s": 0.5,
                    },
                    "status_page": {"enabled": name == "cong-chinh", "port": free_port()},
                }
            )
            enrol_device(config, to_centre[name].url, code if name == names[0] else central_code(central), None)
            gates[name] = Gate(name, config, Camera(), Signals(), to_centre[name], {})
        stop = threading.Event()
        threads = []
        for name, gate in gates.items():
            gate.lan = {other: lan[(name, other)] for other in names if other != name}
            threads.append(threading.Thread(target=gate.serve, args=(stop,), name=name, daemon=True))
            threads[-1].start()
        try:
            for gate in gates.values():
                assert gate.ready.wait(30) and gate.kiosk is not None, f"{gate.name} did not start"
            yield {"central": central, "gates": gates, "tickets": tickets, "badge": badge}
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)


def central_code(central: LocalCentral) -> str:
    from central.admin import make_enroll_code

    with central.engine.begin() as conn:
        return make_enroll_code(conn, VENUE, utcnow())


def cut(*proxies: FaultProxy) -> None:
    for proxy in proxies:
        proxy.plan.set_odds(CUT)


def heal(*proxies: FaultProxy) -> None:
    for proxy in proxies:
        proxy.plan.set_odds({})


def outcome(event: Event) -> tuple[str, str]:
    return event.decision, event.reason


def test_a_factory_day(day: dict[str, Any]) -> None:
    central, gates = day["central"], day["gates"]
    main, side, out = gates["cong-chinh"], gates["cong-phu"], gates["cong-ra"]
    tickets = [f"{t.text}" for t in day["tickets"]]

    # Staff: in their window at either entrance, and out; the night shift is refused by day.
    an = main.present(AN)
    assert outcome(an) == ("ACCEPT", "access-ok")
    assert outcome(side.present(BINH)) == ("DENY", "outside-hours")
    assert outcome(out.present(AN)) == ("ACCEPT", "exit-ok")
    main.knows(an.subject_key or "", "out")  # the exit's passage reached the entrance: no anti-passback
    assert outcome(main.present(AN)) == ("ACCEPT", "access-ok")
    side.knows(an.subject_key or "", "in")
    assert outcome(side.present(AN)) == ("DENY", "passback")  # in twice, through two entrances

    # A revoked badge: refused from the status list the gates pulled; Chi's own CCCD makes her a visitor.
    assert outcome(side.present(day["badge"].text)) == ("DENY", "pass-revoked")
    assert outcome(side.present(CHI)) == ("REVIEW", "visitor")

    # Visitors: the guard registers them at the desk; Hà leaves, Dũng stays.
    for visitor in (HA, DUNG):
        assert outcome(main.present(visitor)) == ("REVIEW", "visitor")
        desk = main.kiosk.status_page if main.kiosk is not None else None
        assert desk is not None
        form = {"host": "Kho", "purpose": "Giao hàng / Delivery"}
        answer = requests.post(f"http://127.0.0.1:{desk.port}/guard/visit", data=form, timeout=5, allow_redirects=False)
        assert answer.status_code == 303
        assert outcome(main.signals.events.get(timeout=10)) == ("ACCEPT", "visit-opened")
    assert outcome(out.present(HA)) == ("ACCEPT", "exit-ok")

    # A single-use ticket, the centre reachable: once.
    assert outcome(main.present(tickets[0])) == ("ACCEPT", "ticket-ok")
    assert outcome(side.present(tickets[0])) == ("DENY", "pass-used")

    # The centre unreachable, the gates' network up: the other gates answer, still once.
    cut(main.centre, side.centre, out.centre)
    assert outcome(side.present(tickets[1])) == ("ACCEPT", "ticket-ok")
    assert outcome(main.present(tickets[1])) == ("DENY", "pass-used")

    # The network split too: each entrance on its own lets the ticket in once (single_use_offline = accept).
    cut(*main.lan.values(), *side.lan.values(), *out.lan.values())
    assert outcome(main.present(tickets[2])) == ("ACCEPT", "ticket-ok")
    assert outcome(side.present(tickets[2])) == ("ACCEPT", "ticket-ok")

    # Everything back: every event reaches the centre once, and the centre flags the double use.
    heal(main.centre, side.centre, out.centre, *main.lan.values(), *side.lan.values(), *out.lan.values())
    recorded = sum(_count(g) for g in gates.values())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _held(central) < recorded:
        time.sleep(0.2)
    assert _held(central) == recorded
    with central.engine.connect() as conn:
        flagged = double_uses(conn, utcnow() - timedelta(hours=1), VENUE)
        evening = inside(conn, VENUE, utcnow() + timedelta(seconds=1))
    assert [use.pass_id for use in flagged] == [day["tickets"][2].pass_id]
    visitors = evening.of("visitor")
    assert [(v.visit.host, v.visit.id_tail) for v in visitors if v.visit] == [("Kho", "9876")]  # Dũng, not Hà
    assert [p.groups for p in evening.of("enrolled")] == [("ca-ngay",)]  # An is inside
    # The main entrance counts who is inside from every gate's passages: An, Dũng and the three tickets' holders.
    desk = main.kiosk.status_page if main.kiosk is not None else None
    assert desk is not None
    deadline, occupancy = time.monotonic() + 15, None
    while time.monotonic() < deadline and occupancy != 5:
        occupancy = requests.get(f"http://127.0.0.1:{desk.port}/status.json", timeout=5).json()["occupancy"]
        time.sleep(0.2)
    assert occupancy == 5


def _count(gate: Gate) -> int:
    store = EventStore(gate.config.database_path, read_only=True)
    try:
        return store.status(0).events
    finally:
        store.close()


def _held(central: LocalCentral) -> int:
    with central.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())
