from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import on_canvas, qr_image, write_images

from kiosk.camera import FrameGrabber
from kiosk.camera.files import ImageFolderSource, VideoFileSource
from kiosk.camera.opencv import OpenCVSource, redact_url
from kiosk.camera.picamera import PicameraSource
from kiosk.errors import SourceError


def numbered_frames(n: int) -> list[np.ndarray]:
    """Frames whose top-left pixel value is their number, so order can be checked after a round trip."""
    frames = []
    for i in range(n):
        frame = np.full((48, 64), 100, dtype=np.uint8)
        frame[:8, :8] = i * 10
        frames.append(frame)
    return frames


def test_image_folder_plays_in_natural_order_and_skips_unreadable(tmp_path: Path):
    folder = write_images(tmp_path / "f", numbered_frames(3))
    (folder / "0000.png").rename(folder / "2.png")
    (folder / "0001.png").rename(folder / "10.png")
    (folder / "0002.png").rename(folder / "1.png")
    (folder / "5.jpg").write_bytes(b"not an image")
    source = ImageFolderSource(folder, fps=None)
    source.open()
    seen = []
    while (image := source.read()) is not None:
        seen.append(int(image[0, 0]))
    assert seen == [20, 0, 10]  # 1.png, 2.png, 10.png


def test_image_folder_loops(tmp_path: Path):
    source = ImageFolderSource(write_images(tmp_path / "f", numbered_frames(2)), fps=None, loop=True)
    source.open()
    assert [int(source.read()[0, 0]) for _ in range(5)] == [0, 10, 0, 10, 0]


def test_empty_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SourceError, match="no image files"):
        ImageFolderSource(tmp_path).open()


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def test_video_file_gives_grey_frames_at_its_own_rate(tmp_path: Path):
    frames = [on_canvas(qr_image(f"frame {i}", scale=4)) for i in range(4)]
    source = VideoFileSource(write_video(tmp_path / "v.avi", frames, fps=12))
    source.open()
    read = []
    while (image := source.read()) is not None:
        read.append(image)
    source.close()
    assert len(read) == 4 and read[0].shape == (480, 640) and read[0].ndim == 2
    assert source.pace_fps == pytest.approx(12)


def test_missing_video_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SourceError, match="no such video file"):
        VideoFileSource(tmp_path / "none.mp4").open()


class ListSource:
    """A replay of given frames, as fast as asked (no pacing): drives the grabber deterministically."""

    live = False

    def __init__(self, frames: list[np.ndarray], pace_fps: float | None = None) -> None:
        self.frames = list(frames)
        self.pace_fps = pace_fps
        self.name = "list"
        self.closed = False

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray | None:
        return self.frames.pop(0) if self.frames else None

    def close(self) -> None:
        self.closed = True


def test_grabber_keeps_only_the_newest_frame_and_counts_drops():
    grabber = FrameGrabber(ListSource(numbered_frames(20)))
    grabber.start()
    deadline = time.monotonic() + 5
    while not grabber.exhausted and grabber.stats.captured < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    frame = grabber.next(timeout=1)
    grabber.stop()
    assert frame is not None and frame.index == 19  # the loop sees the newest frame, not the oldest
    assert grabber.stats.captured == 20 and grabber.stats.dropped == 19


def test_lockstep_grabber_hands_over_every_frame_and_then_ends():
    grabber = FrameGrabber(ListSource(numbered_frames(20)), lockstep=True)
    grabber.start()
    indexes = []
    while not grabber.exhausted:
        frame = grabber.next(timeout=1)
        if frame is not None:
            indexes.append(frame.index)
            time.sleep(0.001)
    grabber.stop()
    assert indexes == list(range(20)) and grabber.stats.dropped == 0


def test_paced_replay_runs_at_its_frame_rate():
    grabber = FrameGrabber(ListSource(numbered_frames(10), pace_fps=50), lockstep=True)
    started = time.monotonic()
    grabber.start()
    while not grabber.exhausted:
        grabber.next(timeout=1)
    grabber.stop()
    assert 0.15 <= time.monotonic() - started <= 1.0  # 10 frames at 50 fps: 0.2 s


class FlakyCamera:
    """A live camera that fails after a few frames, then works again after being reopened."""

    live = True
    pace_fps = None
    name = "flaky"

    def __init__(self, error: Exception | None = None) -> None:
        self.opens = 0
        self.reads = 0
        self.error = error or SourceError("frontend timed out")

    def open(self) -> None:
        self.opens += 1

    def read(self) -> np.ndarray:
        self.reads += 1
        time.sleep(0.002)
        if self.reads == 3:
            raise self.error
        return np.zeros((8, 8), np.uint8)

    def close(self) -> None:
        pass


# A live camera fails in many ways (SourceError from our adapters, cv2.error, driver errors): all lead to a
# reopen, never to a dead capture thread.
@pytest.mark.parametrize("error", [SourceError("frontend timed out"), ValueError("driver said something odd")])
def test_live_camera_is_reopened_after_a_failure(error: Exception):
    camera = FlakyCamera(error)
    grabber = FrameGrabber(camera, reopen_s=0.05)
    grabber.start()
    deadline = time.monotonic() + 5
    while camera.reads < 10 and time.monotonic() < deadline:
        grabber.next(timeout=0.1)
    grabber.stop()
    assert camera.opens == 2 and grabber.stats.failures == 1 and not grabber.exhausted


def test_stop_interrupts_a_waiting_consumer_and_closes_the_source():
    source = ListSource([], pace_fps=1)
    grabber = FrameGrabber(source)
    grabber.start()
    threading.Timer(0.05, grabber.stop).start()
    assert grabber.next(timeout=2) is None
    time.sleep(0.2)
    assert source.closed


def test_opencv_source_names_what_to_check_when_the_device_is_missing():
    with pytest.raises(SourceError, match="cannot open"):
        OpenCVSource("/dev/video99").open()


def test_stream_passwords_never_reach_a_log_line():
    assert redact_url("rtsp://admin:s3cret@10.0.0.5:554/stream1") == "rtsp://admin:***@10.0.0.5:554/stream1"
    assert OpenCVSource("rtsp://admin:s3cret@cam/1").name == "camera rtsp://admin:***@cam/1"
    assert redact_url("/dev/video0") == "/dev/video0"


def test_a_redacted_url_keeps_an_empty_authority():
    """An absolute SQLite path lost two slashes in `kiosk-central`'s error (sqlite://tmp/...)."""
    assert redact_url("sqlite:////var/lib/c.db") == "sqlite:////var/lib/c.db"
    assert redact_url("file:///x?token=1#f") == "file:///x?token=***#f"


@pytest.fixture
def fake_picamera2(monkeypatch):
    from fakes import picamera2

    picamera2.instances.clear()
    picamera2.frame_image = None
    picamera2.fail_after = None
    picamera2.fail_start = False
    monkeypatch.setitem(sys.modules, "picamera2", picamera2)
    return picamera2


def test_picamera_source_configures_a_lores_yuv420_stream_and_decodes_its_y_plane(fake_picamera2):
    fake_picamera2.frame_image = on_canvas(qr_image("from the sensor", scale=4))
    source = PicameraSource(width=630, height=480, fps=20)
    source.open()
    camera = fake_picamera2.instances[0]
    config = camera.camera_config
    assert config["lores"]["format"] == "YUV420" and config["queue"] is False
    assert config["controls"]["FrameDurationLimits"] == (50_000, 50_000)
    image = source.read()
    assert image.shape == (480, 640) and image.flags["C_CONTIGUOUS"]  # aligned width, no stride padding
    assert not (image == 77).any()  # nothing of the chroma planes or the padding
    from kiosk.decode.zxing import ZxingDecoder

    assert [c.text for c in ZxingDecoder().read(image).codes] == ["from the sensor"]
    source.close()
    assert camera.closed and not camera.started


def test_picamera_capture_failure_is_a_source_error(fake_picamera2):
    fake_picamera2.fail_after = 1
    source = PicameraSource()
    source.open()
    source.read()
    with pytest.raises(SourceError, match="capture failed"):
        source.read()


def test_missing_camera_module_is_reported_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails as on a PC
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        PicameraSource().open()


def test_a_camera_that_fails_to_start_is_closed_so_a_reopen_can_succeed(fake_picamera2):
    fake_picamera2.fail_start = True
    with pytest.raises(SourceError, match="Device or resource busy"):
        PicameraSource().open()
    assert fake_picamera2.instances[0].closed


def test_second_camera_absent_is_a_source_error(fake_picamera2):
    with pytest.raises(SourceError, match="not found"):
        PicameraSource(camera_num=1).open()


class BlockingCamera:
    """A live camera stuck inside read() (a hung USB device), recording whether close() came during a read."""

    live = True
    pace_fps = None
    name = "stuck"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reading = False
        self.closed_while_reading = False
        self.closed = False

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        self.reading = True
        self.release.wait(10)
        self.reading = False
        return np.zeros((8, 8), np.uint8)

    def close(self) -> None:
        self.closed_while_reading |= self.reading
        self.closed = True


def test_stop_never_closes_a_camera_under_a_read_in_progress():
    camera = BlockingCamera()
    grabber = FrameGrabber(camera, stop_timeout_s=0.2)
    grabber.start()
    time.sleep(0.05)
    started = time.monotonic()
    grabber.stop()
    assert time.monotonic() - started < 1.0 and not camera.closed
    camera.release.set()  # the read returns: the capture thread closes the camera itself
    deadline = time.monotonic() + 2
    while not camera.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert camera.closed and not camera.closed_while_reading
