"""The guard's visitor desk (issue 15, item 3): a stranger's CCCD at an access-mode gate that sends strangers to
the visitor flow waits for the guard; the guard's page (/guard on the status page, a phone on the gate's network)
shows who waits and registers the visit with a host and a purpose; the loop records the visit with its event
before the gate opens. A real kiosk on replayed frames, and its status page on loopback.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import CCCD_AN, write_images
from test_loop import Recorder, scene
from test_statuspage import page_for

from kiosk.app import Kiosk, assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.config import KioskConfig
from kiosk.errors import StoreError
from kiosk.ops.statuspage import StatusPage
from kiosk.store import EventStore

TOKEN = "s3cret-token-for-the-guard"
HOSTS = ["Phòng Nhân sự", "Kho"]


@dataclass
class Desk:
    kiosk: Kiosk
    page: StatusPage
    url: str
    recorder: Recorder

    def post(self, token: str = TOKEN, **form: str) -> requests.Response:
        body = {"token": token, **form}
        return requests.post(self.url + "/guard/visit?lang=en", data=body, timeout=5, allow_redirects=False)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    config = KioskConfig.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "device": {"id": "gate-1", "venue": "NM-1", "direction": "in"},
            "camera": {"realtime": False},
            "policy": {"mode": "access", "strangers": "visitor", "visit_hosts": HOSTS},
            "status_page": {"enabled": False},
        }
    )
    recorder = Recorder(config.database_path)
    frames = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    kiosk = assemble(config, source=frames, feedback=recorder)
    page = page_for(kiosk, token=TOKEN, host="127.0.0.1")
    page.commands = kiosk.loop.commands  # as the assembly hands it over when the page is enabled
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
        yield Desk(kiosk, page, f"http://127.0.0.1:{page.port}", recorder)
    finally:
        page.stop()
        kiosk.close()


def test_the_guard_sees_who_waits_and_registers_the_visit_before_the_gate_opens(desk: Desk) -> None:
    assert [(e.decision, e.reason) for e in desk.recorder.signalled] == [("REVIEW", "visitor")]
    shown = requests.get(desk.url + f"/guard?token={TOKEN}&lang=en", timeout=5)
    assert shown.status_code == 200 and "A visitor is waiting at the gate" in shown.text
    assert "****2345" in shown.text and "001090012345" not in shown.text and "Nguyễn" not in shown.text
    assert all(f"<option>{host}</option>" in shown.text for host in HOSTS)
    answer = desk.post(host="Kho", purpose="Giao hàng / Delivery")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/guard?lang=en&done=1")
    assert desk.kiosk.loop.take_commands()  # what the loop does before each frame
    opened = desk.recorder.signalled[-1]
    assert (opened.decision, opened.reason, opened.direction) == ("ACCEPT", "visit-opened", "in")
    assert desk.recorder.committed_first[-1]  # the visit and its event were recorded before the gate opened
    store = EventStore(desk.kiosk.config.database_path, read_only=True)
    (visit,) = store.unsent_visits()
    store.close()
    assert (visit.event_id, visit.subject_key, visit.host, visit.purpose, visit.id_tail) == (
        opened.event_id,
        opened.subject_key,
        "Kho",
        "Giao hàng / Delivery",
        "2345",
    )
    done = requests.get(desk.url + f"/guard?token={TOKEN}&lang=vi&done=1", timeout=5)
    assert "Đã ghi nhận lượt khách" in done.text and "Không có khách nào đang chờ" in done.text
    again = desk.post(host="Kho", purpose="Giao hàng / Delivery")  # a second tap: nobody waits any more
    assert again.status_code == 422 and "no visitor is waiting any more" in again.text


def test_the_desk_refuses_what_the_venue_did_not_offer_and_strangers_to_the_token(desk: Desk) -> None:
    assert desk.post(host="Giám đốc", purpose="Họp / Meeting").status_code == 422
    assert "choose whom the visitor sees" in desk.post(host="Giám đốc", purpose="Họp / Meeting").text
    assert "choose a purpose" in desk.post(host="Kho", purpose="<script>").text
    assert desk.post(token="wrong", host="Kho", purpose="Họp / Meeting").status_code == 401
    huge = requests.post(desk.url + "/guard/visit", data={"token": TOKEN, "host": "x" * 5000}, timeout=5)
    assert huge.status_code == 413
    assert requests.post(desk.url + "/", data={"token": TOKEN}, timeout=5).status_code == 405
    assert desk.kiosk.loop.take_commands() == []  # nothing refused reached the loop
    assert [(e.decision, e.reason) for e in desk.recorder.signalled] == [("REVIEW", "visitor")]


def test_a_visit_is_uploaded_once_and_deleted_with_its_age(tmp_path: Path) -> None:
    import dataclasses

    from test_store import make_event

    from kiosk.events import Visit
    from kiosk.store.retention import Retention

    store = EventStore(tmp_path / "events.db")
    event = make_event(reason="visit-opened")
    visit = Visit("v-1", event.event_id, event.subject_key or "", "Kho", "Họp / Meeting", "2345", event.wall_time)
    store.record(event, visit)
    assert store.unsent_visits() == [visit]
    assert store.mark_visits_sent(["v-1"], event.wall_time) == 1 and store.unsent_visits() == []
    assert store.mark_visits_sent(["v-1"], event.wall_time) == 0  # acknowledged again: counted once
    with pytest.raises(StoreError, match="UNIQUE"):  # the same visit never twice, even if the loop retried
        store.record(dataclasses.replace(event, event_id="other"), visit)
    store.close()
    Retention(tmp_path / "events.db", days=1).purge(event.wall_time + 2 * 86400, clock_synced=True)
    conn = sqlite3.connect(tmp_path / "events.db")
    assert conn.execute("SELECT COUNT(*) FROM visits").fetchone() == (0,)
    conn.close()
