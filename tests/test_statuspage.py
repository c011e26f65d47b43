"""The technician's status page and /metrics, fetched over loopback from a kiosk that replayed real QR images."""

from __future__ import annotations

import dataclasses
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
import requests
from conftest import CCCD_AN, PCCOVID_AN, write_images
from prometheus_client.parser import text_string_to_metric_families
from test_loop import OTHER, Recorder, config_for, run_until_end, scene
from web_helpers import wrong_language

from kiosk.app import Kiosk, assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.config import StatusPageConfig
from kiosk.decode.zxing import ZxingDecoder
from kiosk.ops.frametap import FrameTap, chain_observers
from kiosk.ops.promexport import CumulativeHistogram
from kiosk.ops.statusimage import ROI_COLOUR
from kiosk.ops.statuspage import StatusPage, StatusPageError
from kiosk.store import EventStore

ROI = {"x": 0.1, "y": 0.05, "width": 0.8, "height": 0.9}  # 640 x 480: x 64..576, y 24..456
PERSONAL = ["Nguyễn Văn An", "NGUYEN VAN AN", "001090012345", "123456789", "Trần Thị Bích Ngọc", "079203012345"]
PATHS = ["/", "/status.json", "/metrics", "/snapshot.png"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def page_for(kiosk: Kiosk, tap: FrameTap | None = None, **config: object) -> StatusPage:
    """A page on a free loopback port, its tap chained to the loop's observers (or sharing `tap`)."""
    page = StatusPage(StatusPageConfig(port=free_port(), **config), kiosk, timeout_s=0.5, clients=4)
    if tap is None:
        kiosk.loop.on_frame = chain_observers(kiosk.loop.on_frame, page.tap)
    else:
        page.tap = tap
    page.start()
    return page


@dataclasses.dataclass
class Served:
    kiosk: Kiosk
    page: StatusPage
    url: str
    frames: list[np.ndarray]
    signalled: list[str]  # event kinds, in order

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.url + path, timeout=5, **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One replay of three people, the last still holding up a code in the last frame; the page served after."""
    tmp = tmp_path_factory.mktemp("status")
    config = config_for(tmp, roi=ROI)
    frames = scene(CCCD_AN, OTHER, PCCOVID_AN)[:-2]
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp / "frames", frames), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder)
    page = page_for(kiosk)
    try:
        run_until_end(kiosk)
        yield Served(kiosk, page, f"http://127.0.0.1:{page.port}", frames, [e.kind for e in recorder.signalled])
    finally:
        page.stop()


def test_the_page_shows_the_decisions_and_the_counters_in_vietnamese(served: Served):
    response = served.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    text = response.content.decode("utf-8")
    assert "Trạng thái cổng" in text and "Quyết định gần đây" in text
    assert '<meta http-equiv="refresh"' in text and "<script" not in text and "http" not in text.split("<body>")[1]
    assert served.signalled == ["cccd", "cccd", "pc-covid"]
    assert text.count('<span lang="zxx">cccd</span>') == 2 and text.count('<span lang="zxx">pc-covid</span>') == 1
    assert "<th>Cho vào</th><td>3</td>" in text
    assert f"<td>{len(served.frames)}</td>" in text
    assert "gate-7" in text and "BV-DAKNONG" in text and "folder " in text


def test_status_json_agrees_with_the_store_and_the_metrics(served: Served):
    report = served.get("/status.json").json()
    store = EventStore(served.kiosk.config.database_path, read_only=True)
    status = store.status()
    store.close()
    counts = {k: report["store"][k] for k in ("events", "unsent", "quarantined")}
    assert counts == {"events": status.events, "unsent": status.unsent, "quarantined": status.quarantined}
    assert (status.events, status.unsent, status.quarantined) == (3, 3, 0)
    assert 0 <= report["store"]["oldest_unsent_age_s"] < 60
    metrics = served.kiosk.metrics
    assert report["camera"]["frames"] == metrics.frames == len(served.frames)
    assert report["camera"]["dropped"] == served.kiosk.grabber.stats.dropped == 0
    assert report["decode"]["codes"] == metrics.codes
    assert report["decisions"] == {"ACCEPT": 3, "DENY": 0, "REVIEW": 0} == {"DENY": 0, "REVIEW": 0, **metrics.decisions}
    assert report["decode"]["ms"]["p50"] is not None and report["decision_ms"]["p95"] is not None
    assert [r["seq"] for r in report["recent"]] == [r["seq"] for r in status.recent] == [3, 2, 1]
    assert [r["kind"] for r in report["recent"]] == ["pc-covid", "cccd", "cccd"]
    assert all("subject_key" not in r for r in report["recent"])
    assert {r["clock_synced"] for r in report["recent"]} <= {True, False}
    assert report["camera"]["last_frame_age_s"] >= 0
    assert report["sync"] == {"enrolled": False, "server": None, "running": False}
    assert report["device"] == {
        "id": "gate-7",
        "venue": "BV-DAKNONG",
        "direction": "in",
        "version": report["device"]["version"],
    }


def test_metrics_parse_and_count_what_the_store_holds(served: Served):
    response = served.get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def value(name: str, **labels: str) -> float:
        return next(s.value for f in families.values() for s in f.samples if s.name == name and s.labels == labels)

    db = sqlite3.connect(served.kiosk.config.database_path)
    ((accepted,),) = db.execute("SELECT COUNT(*) FROM events WHERE decision = 'ACCEPT'").fetchall()
    db.close()
    assert value("kiosk_decisions_total", outcome="ACCEPT") == accepted == 3
    assert value("kiosk_decisions_total", outcome="DENY") == 0
    assert value("kiosk_frames_total") == len(served.frames)
    assert value("kiosk_frames_dropped_total") == 0
    assert value("kiosk_codes_decoded_total") == served.kiosk.metrics.codes
    assert value("kiosk_store_errors_total") == value("kiosk_sync_failures_total") == 0
    assert value("kiosk_backlog_events") == 3 and value("kiosk_quarantined_events") == 0
    assert value("kiosk_backlog_oldest_seconds") >= 0 and value("kiosk_fps") >= 0
    assert value("kiosk_clock_synchronised") in (0, 1)
    assert families["kiosk_decode_seconds"].type == families["kiosk_decision_latency_seconds"].type == "histogram"
    assert value("kiosk_decode_seconds_count") == len(served.frames)
    assert value("kiosk_decision_latency_seconds_count") == 3
    assert value("kiosk_decision_latency_seconds_bucket", le="+Inf") == 3
    # A second scrape adds nothing: the histograms take only the samples appended since the last one.
    families = {f.name: f for f in text_string_to_metric_families(served.get("/metrics").text)}
    assert value("kiosk_decision_latency_seconds_count") == 3
    assert value("kiosk_decode_seconds_count") == len(served.frames)


def test_snapshot_shows_the_frame_the_region_and_the_codes_but_not_their_content(served: Served):
    response = served.get("/snapshot.png")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)
    for y, x in [(24, 450), (455, 450), (400, 64), (400, 575), (25, 65)]:  # on the ROI's edges
        assert tuple(image[y, x]) == ROI_COLOUR, (y, x)
    assert tuple(image[300, 450]) != ROI_COLOUR
    green = np.all(image == (0, 200, 0), axis=2)
    assert green.sum() > 100  # the read code is outlined
    decoder = ZxingDecoder()
    frame = served.frames[-1]
    assert decoder.read(frame).codes  # the camera's frame has a readable code...
    drawn = ~((image[:, :, 0] == image[:, :, 1]) & (image[:, :, 1] == image[:, :, 2]))
    undrawn = np.where(drawn, frame, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))  # lines taken off again
    assert not decoder.read(undrawn).codes  # ...the snapshot has none, even without the lines drawn over it


def test_no_response_holds_personal_data(served: Served):
    db = sqlite3.connect(served.kiosk.config.database_path)
    keys = [k for (k,) in db.execute("SELECT subject_key FROM events WHERE subject_key IS NOT NULL")]
    db.close()
    assert len(keys) == 3
    secrets = [*keys, *PERSONAL, CCCD_AN, OTHER, PCCOVID_AN]
    for path in PATHS:
        body = served.get(path).content
        for secret in secrets:
            assert secret.encode() not in body, (path, secret)
            assert secret.encode("utf-16-le") not in body, (path, secret)
        if path != "/snapshot.png":
            text = body.decode("utf-8")
            assert all(secret not in text for secret in secrets)
            assert "\\u" not in text  # no escaped text that could hide a name from the check above


def test_a_token_is_required_when_set(served: Served):
    token = "s3cret-token-for-the-technician"
    page = page_for(served.kiosk, served.page.tap, token=token)
    url = f"http://127.0.0.1:{page.port}"
    try:
        for path in PATHS:
            refused = requests.get(url + path, timeout=5)
            assert refused.status_code == 401 and token not in refused.text
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(url + "/", headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
        assert requests.get(url + "/", params={"token": token[:-1]}, timeout=5).status_code == 401
        assert requests.get(url + "/nowhere", timeout=5).status_code == 401  # no hint of which paths exist
        for path in PATHS:
            assert requests.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
        by_query = requests.get(url + "/", params={"token": token}, timeout=5)
        assert by_query.status_code == 200
        assert f'src="/snapshot.png?token={token}"' in by_query.text  # the image loads in a browser too
        assert requests.get(url + "/metrics", params={"token": token}, timeout=5).status_code == 200
    finally:
        page.stop()


def test_only_get_and_only_the_four_paths(served: Served):
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        response = requests.request(method, served.url + "/", timeout=5)
        assert response.status_code == 405 and response.headers["Allow"] == "GET"
    assert requests.request("BREW", served.url + "/", timeout=5).status_code == 501
    for path in ["/nowhere", "/index.html", "/..%2f..%2fetc/passwd", "/kiosk/", "/snapshot.png/", "/events.db"]:
        response = served.get(path)
        assert response.status_code == 404 and response.text == "not found\n", path


def test_a_failure_is_reported_without_a_traceback(served: Served, tmp_path: Path):
    config = served.kiosk.config.model_copy(update={"state_dir": tmp_path / "nothing-here"})
    broken = dataclasses.replace(served.kiosk, config=config)
    (tmp_path / "nothing-here").mkdir()
    page = page_for(broken, served.page.tap)
    try:
        response = requests.get(f"http://127.0.0.1:{page.port}/status.json", timeout=5)
        assert response.status_code == 500
        assert "Traceback" not in response.text and "nothing-here" not in response.text
    finally:
        page.stop()


def test_slow_clients_block_neither_the_loop_nor_other_requests(tmp_path: Path):
    config = config_for(tmp_path)
    frames = scene(CCCD_AN, OTHER, None, PCCOVID_AN, hold=6)
    recorder = Recorder(config.database_path)
    kiosk = assemble(
        config, source=ImageFolderSource(write_images(tmp_path / "f", frames), fps=None), feedback=recorder
    )
    page = page_for(kiosk)
    silent = socket.create_connection(("127.0.0.1", page.port))  # connects, sends nothing
    halfway = socket.create_connection(("127.0.0.1", page.port))
    halfway.sendall(b"GET /status.json HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
    statuses: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            statuses.append(requests.get(f"http://127.0.0.1:{page.port}/status.json", timeout=5).status_code)

    poller = threading.Thread(target=poll)
    try:
        poller.start()
        started = time.monotonic()
        run_until_end(kiosk)
        elapsed = time.monotonic() - started
        done.set()
        poller.join(10)
        assert [e.kind for e in recorder.signalled] == ["cccd", "cccd", "pc-covid"]
        assert elapsed < 10 and statuses and set(statuses) == {200}
        for idle in (silent, halfway):  # dropped after the page's timeout (0.5 s), not held for ever
            idle.settimeout(5)
            assert idle.recv(1024) == b""
    finally:
        done.set()
        silent.close()
        halfway.close()
        page.stop()


def test_too_many_clients_at_once_are_refused_not_queued(served: Served):
    page = page_for(served.kiosk, served.page.tap)  # four at once
    idle = [socket.create_connection(("127.0.0.1", page.port)) for _ in range(4)]
    try:
        time.sleep(0.1)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{page.port}/", timeout=5)
        time.sleep(0.7)  # the idle ones time out and free their places
        assert requests.get(f"http://127.0.0.1:{page.port}/", timeout=5).status_code == 200
    finally:
        for connection in idle:
            connection.close()
        page.stop()


def test_histograms_take_each_sample_once_and_count_what_they_missed():
    histogram = CumulativeHistogram((0.001, 0.01))
    histogram.update(3, [0.5, 5.0, 50.0])  # ms
    assert histogram.counts == [1, 1, 1] and histogram.sum == pytest.approx(0.0555)
    histogram.update(3, [0.5, 5.0, 50.0])
    assert histogram.counts == [1, 1, 1]
    histogram.update(8, [5.0, 5.0, 1.0])  # five more appended, only three still in the deque
    assert histogram.counts == [2, 3, 1] and histogram.lost == 2
    family = histogram.family("kiosk_test_seconds", "test")
    buckets = [(s.labels["le"], s.value) for s in family.samples if s.name.endswith("_bucket")]
    assert buckets == [("0.001", 2), ("0.01", 5), ("+Inf", 6)]


def test_observers_are_chained_in_order():
    seen: list[str] = []
    first, second = (lambda frame, result: seen.append("screen")), (lambda frame, result: seen.append("page"))
    assert chain_observers(None, None) is None
    assert chain_observers(None, second) is second
    both = chain_observers(first, None, second)
    assert both is not None
    both(None, None)
    assert seen == ["screen", "page"]


def test_starting_twice_on_one_port_says_what_to_do(served: Served):
    other = StatusPage(StatusPageConfig(port=served.page.port), served.kiosk)
    with pytest.raises(
        StatusPageError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*; choose another status_page\.port"
    ):
        other.start()


def test_the_page_shows_local_time_and_speaks_one_language_at_a_time(served: Served):
    """Issue 12, item 7: the page showed UTC and rows in English only. Times are the kiosk's local time (its
    system zone, set by the image); the page is in the kiosk's language, the other one link away; /status.json
    stays UTC for machines."""
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    page = StatusPage(StatusPageConfig(port=free_port()), served.kiosk, zone=zone, timeout_s=0.5)
    page.tap = served.page.tap
    page.start()
    try:
        url = f"http://127.0.0.1:{page.port}/"
        vi, en = (requests.get(url, params=query, timeout=5).text for query in ({}, {"lang": "en"}))
    finally:
        page.stop()
    newest = datetime.fromisoformat(served.get("/status.json").json()["recent"][0]["time"])
    assert newest.utcoffset() == timedelta(0)
    local = newest.astimezone(zone)
    assert f"<td>{local:%d/%m/%Y %H:%M:%S}</td>" in vi and f"<td>{local.day} {local:%b %Y %H:%M:%S}</td>" in en
    assert f"{newest:%H:%M:%S}" not in vi + en
    assert '<html lang="vi">' in vi and '<html lang="en">' in en
    assert "<th>Cho vào</th><td>3</td>" in vi and "<th>Accepted</th><td>3</td>" in en
    assert 'href="/?lang=en"' in vi and 'href="/?lang=vi"' in en
    assert wrong_language(vi, "vi") == [] and wrong_language(en, "en") == []
