"""A whole kiosk as an OSDP reader on an access panel: libosdp's control panel at the other end of a pty pair,
secure channel on, the codes from a serial scanner on another pty, the gate's GPIO on gpiozero's MockFactory.

The panel decides: what the kiosk accepts is recorded as REVIEW "panel-decides" and reported as the person's
badge number; the panel's green LED is recorded as ACCEPT "panel-granted" and only then opens the relay, its red
one as DENY "panel-denied"; a stranger the kiosk refuses itself never reaches the panel.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import osdp
from conftest import CCCD_AN
from test_access_policy import document
from test_loop import config_for
from test_osdp import ADDRESS, KEY, led, line, no_leaks, panel_factory, wait_for  # noqa: F401  (fixtures)
from test_scanner import SerialCable, cable  # noqa: F401  (fixture)

from kiosk.app import assemble
from kiosk.config import KioskConfig
from kiosk.credentials import Identity
from kiosk.hardware.osdpcard import card_for
from kiosk.hardware.osdpkey import save_scbk
from kiosk.ops.statushtml import render_page
from kiosk.ops.statusreport import gather_status
from kiosk.policy.access import AccessList
from kiosk.store import EventStore

BINH = "079090000001||Trần Thị Bình|02031991|Nữ|Số 3 Lê Lợi, Huế|15082021"
STRANGER = "079090000002||Lê Văn Cường|03041992|Nam|Số 4 Lê Lợi, Huế|15082021"


def osdp_kiosk(tmp_path: Path, line_link: Path, scanner: Path) -> Any:
    data = config_for(tmp_path).model_dump(mode="json")
    data["camera"]["source"] = "none"
    data["scanners"] = [{"kind": "serial", "device": str(scanner), "gap_ms": 200}]
    data["policy"]["mode"] = "access"
    data["feedback"]["outputs"] = ["gpio", "osdp"]
    data["feedback"]["gpio"]["pin_factory"] = "mock"
    data["feedback"]["osdp"] |= {"port": str(line_link), "address": ADDRESS, "card_format": "badge", "bits": 32}
    config = KioskConfig.model_validate(data)
    config.state_dir.mkdir(parents=True)
    save_scbk(config.state_dir / "osdp-scbk.key", KEY)
    kiosk = assemble(config)
    keys = {who: kiosk.loop.keyer.key(Identity("VN-ID", text[:12])) for who, text in (("an", CCCD_AN), ("binh", BINH))}
    group = {"id": 1, "name": "staff", "windows": [{"days": list(range(1, 8)), "start": "00:00", "end": "24:00"}]}
    people = {keys["an"]: [1], keys["binh"]: [1]}
    access = AccessList.from_json(
        document(groups=[group], people=people, badges={keys["an"]: "4521987", keys["binh"]: "77"})
    )
    kiosk.lists.publish(kiosk.lists.current.with_lists(access=access))  # as sync does
    return kiosk, keys


def test_the_panel_decides_and_the_kiosk_records_before_it_follows(
    tmp_path: Path,
    line: Any,  # noqa: F811  (the fixtures imported above)
    panel_factory: Any,  # noqa: F811
    cable: SerialCable,  # noqa: F811
) -> None:
    cp = panel_factory(KEY)
    kiosk, keys = osdp_kiosk(tmp_path, line.link, cable.link)
    relay = kiosk.feedback.gpio.relay
    stop, seen = threading.Event(), {}

    def panel_and_people() -> None:
        try:
            assert wait_for(lambda: cp.is_sc_active(ADDRESS), 8), "no secure channel with the kiosk"
            for who, text, color in (("an", CCCD_AN, "Green"), ("binh", BINH, "Red")):
                cable.send(text.encode() + b"\r")
                seen[who] = cp.get_event(ADDRESS, timeout=3)
                cp.submit_command(ADDRESS, led(getattr(osdp.CommandLEDColor, color)))
                time.sleep(0.5)
            cable.send(STRANGER.encode() + b"\r")
            seen["stranger"] = cp.get_event(ADDRESS, timeout=1)
        finally:
            stop.set()

    kiosk.start()
    driver = threading.Thread(target=panel_and_people)
    driver.start()
    try:
        kiosk.run(stop)
        driver.join(10)
        opened_at = [t for t, state in relay.pin.states if state]
        link = gather_status(kiosk, 0.0, None)["osdp"]
        assert (link["online"], link["secure"], link["reported"]) == (True, True, 2)
        assert "<h2>Tủ điều khiển ra vào (OSDP)</h2>" in render_page(gather_status(kiosk, 0.0, None))
    finally:
        kiosk.close()
        relay.pin_factory.reset()
    store = EventStore(kiosk.config.database_path, read_only=True)
    events = [(e.decision, e.reason, e.subject_key) for e in store.unsent(100)]
    store.close()
    an, binh = keys["an"], keys["binh"]
    assert events[:4] == [
        ("REVIEW", "panel-decides", an), ("ACCEPT", "panel-granted", an),
        ("REVIEW", "panel-decides", binh), ("DENY", "panel-denied", binh),
    ]  # fmt: skip
    assert events[4][:2] == ("DENY", "not-enrolled") and len(events) == 5
    expected = card_for(None, "4521987", "badge", 32)
    assert expected is not None and seen["an"]["data"] == expected.data and seen["an"]["length"] == 32
    assert seen["stranger"] is None  # refused by the kiosk itself: the panel never hears of it
    assert len(opened_at) == 1  # once, for the granted person, after the record


def test_doctor_says_what_the_osdp_reader_lacks(tmp_path: Path) -> None:
    from kiosk.ops.doctorchecks import DoctorContext
    from kiosk.ops.doctorscanner import check_osdp

    data = config_for(tmp_path).model_dump(mode="json")
    data["feedback"]["outputs"] = ["console", "osdp"]
    port = tmp_path / "ttyUSB-RS485"
    data["feedback"]["osdp"]["port"] = str(port)
    config = KioskConfig.model_validate(data)
    no_key = check_osdp(DoctorContext(config))
    assert no_key.status == "fail" and "osdp-scbk.key (chmod 600), or set install_mode" in no_key.detail
    config.state_dir.mkdir(parents=True)
    save_scbk(config.state_dir / "osdp-scbk.key", KEY)
    assert "no such port" in check_osdp(DoctorContext(config)).detail
    port.touch()
    assert check_osdp(DoctorContext(config)).status == "ok"
    (config.state_dir / "osdp-scbk.key").chmod(0o644)
    assert "readable by others" in check_osdp(DoctorContext(config)).detail
