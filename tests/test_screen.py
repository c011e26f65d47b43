"""The screen: rendered images checked region by region, the render thread, and presenting through pygame (dummy)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from conftest import on_canvas, qr_image, write_images
from test_loop import Recorder, config_for, run_until_end, scene

from kiosk.app import assemble
from kiosk.camera.base import Frame
from kiosk.camera.files import ImageFolderSource
from kiosk.clock import FakeClock
from kiosk.config.outputs import ScreenConfig
from kiosk.decode import DecoderChain
from kiosk.decode.chain import ChainResult
from kiosk.decode.zxing import ZxingDecoder
from kiosk.events import Event
from kiosk.hardware import FeedbackFanout
from kiosk.hardware import screen as screen_module
from kiosk.hardware.display import MemoryPresenter, OpenCVPresenter, PygamePresenter, ScreenError, ScreenFeedback
from kiosk.hardware.screen import BAR, COLOURS, READ_COLOUR, ROI_COLOUR, UNREAD_COLOUR, Fonts, Layout, Seen
from kiosk.policy.messages import Messages

W, H = 800, 480
LAYOUT = Layout.of(W, H)
ROI = (0.25, 0.2, 0.5, 0.6)
OUTCOMES = ("ACCEPT", "DENY", "REVIEW", "FAULT")
REASONS = {"ACCEPT": "identity-ok", "DENY": "denylisted", "REVIEW": "status-yellow", "FAULT": "store"}


def config(**overrides: object) -> ScreenConfig:
    return ScreenConfig.model_validate({"width": W, "height": H, "fps": 30, "fullscreen": False, **overrides})


def event(decision: str, reason: str) -> Event:
    return Event(
        event_id="e-1",
        boot_id="boot-0",
        seq=1,
        wall_time=0.0,
        mono_time=0.0,
        clock_synced=True,
        device_id="gate-7",
        venue="BV",
        direction="in",
        kind="cccd",
        subject_key="k" * 16,
        decision=decision,
        reason=reason,
        decoder="zxing",
        latency_ms=1.0,
    )


def crop(image: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = rect
    return image[y : y + h, x : x + w]


def ink(region: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Pixels clearly not the background colour."""
    return np.abs(region.astype(int) - np.array(background)).sum(axis=2) > 60


def banner_in(image: np.ndarray) -> np.ndarray:
    return crop(image, LAYOUT.banner)


def decided(screen: ScreenFeedback, outcome: str) -> np.ndarray:
    if outcome == "FAULT":
        screen.fault(REASONS[outcome])
    else:
        screen.signal(event(outcome, REASONS[outcome]))
    return screen.render()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_screen(clock: FakeClock) -> Iterator:
    made: list[ScreenFeedback] = []

    def make(messages: Messages | None = None, **kw: object) -> ScreenFeedback:
        kw.setdefault("presenter", MemoryPresenter())
        kw.setdefault("roi", ROI)
        screen = ScreenFeedback(config(), messages or Messages("vi"), clock=clock.monotonic, **kw)
        made.append(screen)
        return screen

    yield make
    for screen in made:
        screen.close()


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_banner_has_the_outcome_colour_an_icon_and_text(make_screen, outcome):
    image = decided(make_screen(), outcome)
    background, _ = COLOURS[outcome]
    banner = banner_in(image)
    assert np.abs(banner[:8].reshape(-1, 3).mean(axis=0) - background).max() < 2  # margin: pure colour
    assert (~ink(banner, background)).mean() > 0.6  # mostly that colour, under icon and text
    assert ink(crop(banner, LAYOUT.icon), background).mean() > 0.05
    assert ink(crop(banner, LAYOUT.text), background).mean() > 0.03


def test_each_outcome_has_its_own_icon(make_screen):
    screen = make_screen()
    x, y, side, _ = LAYOUT.icon
    inner = (x + side // 4, y + side // 4, side // 2, side // 2)  # the sign, inside the ring or triangle
    shapes = {o: ink(crop(banner_in(decided(screen, o)), inner), COLOURS[o][0]) for o in OUTCOMES}
    for a in OUTCOMES:
        for b in OUTCOMES:
            if a < b:
                overlap = (shapes[a] & shapes[b]).sum() / (shapes[a] | shapes[b]).sum()
                assert overlap < 0.5, (a, b)


def test_camera_view_shows_the_frame_scaled_and_letterboxed_and_goes_dark_when_stale(make_screen, clock):
    screen = make_screen()
    image = np.full((480, 640), 40, dtype=np.uint8)
    image[100:160, 200:260] = 255  # a bright square at x 200-260, y 100-160
    screen.frame(Frame(image, 0, clock.monotonic()), ChainResult([], [], 1))
    shown = screen.render()
    view_h = H - round(H * 0.18)  # above the idle bar
    scale = view_h / 480
    left = (W - round(640 * scale)) // 2
    x0, y0, side = left + round(200 * scale), round(100 * scale), round(60 * scale)
    assert shown[y0 + 3 : y0 + side - 3, x0 + 3 : x0 + side - 3].min() == 255
    assert shown[y0 + side + 5, x0 + side // 2].max() == 40  # just below the square: the frame's grey
    assert shown[:view_h, : left - 1].max() == 0  # letterbox bars
    assert shown[:view_h, W - left + 1 :].max() == 0
    clock.advance(2.1)  # no new frame: the camera stalled, and a frozen picture would mislead
    assert screen.render()[:view_h].max() == 0


def test_roi_is_drawn_where_it_decodes(make_screen, clock):
    screen = make_screen()
    screen.frame(Frame(np.full((480, 640), 90, dtype=np.uint8), 0, clock.monotonic()), ChainResult([], [], 1))
    shown = screen.render()
    scale = (H - round(H * 0.18)) / 480
    left = (W - round(640 * scale)) // 2
    x0, y0 = left + round(0.25 * 640 * scale), round(0.2 * 480 * scale)
    x1, y1 = x0 + round(0.5 * 640 * scale), y0 + round(0.6 * 480 * scale)
    mid_x, mid_y = (x0 + x1) // 2, (y0 + y1) // 2
    for x, y in ((mid_x, y0 + 1), (mid_x, y1 - 2), (x0 + 1, mid_y), (x1 - 2, mid_y)):
        assert tuple(shown[y, x]) == ROI_COLOUR, (x, y)
    assert tuple(shown[mid_y, mid_x]) == (90, 90, 90)
    assert tuple(shown[y0 - 8, mid_x]) == (90, 90, 90)


def test_code_read_is_outlined_at_its_corners_and_an_unread_one_in_amber(make_screen, clock):
    frame = on_canvas(qr_image("https://example.vn/menu", scale=4), at=(150, 250))
    result = DecoderChain([ZxingDecoder()]).decode(frame)
    assert len(result.codes) == 1
    result = ChainResult(result.codes, [(20, 20, 80, 80)], 1)
    screen = make_screen()
    screen.frame(Frame(frame, 0, clock.monotonic()), result)
    shown = screen.render()
    renderer = screen.renderer
    corners = [renderer.to_screen(frame.shape, x, y) for x, y in result.codes[0].corners]
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
        x, y = (ax + bx) // 2, (ay + by) // 2  # middle of each side
        assert np.abs(shown[y, x].astype(int) - READ_COLOUR).max() < 40, (x, y)
    ux, uy = renderer.to_screen(frame.shape, 50, 20)
    assert tuple(shown[uy, ux]) == UNREAD_COLOUR


def test_idle_instructions_until_a_decision_and_again_after_banner_s(make_screen, clock):
    screen = make_screen()
    idle = screen.render()
    bar = crop(idle, LAYOUT.bar)
    assert ink(bar, BAR[0]).mean() > 0.03  # the instructions are there
    shown = decided(screen, "ACCEPT")
    assert np.abs(banner_in(shown)[:8].reshape(-1, 3).mean(axis=0) - COLOURS["ACCEPT"][0]).max() < 2
    clock.advance(2.9)
    assert np.array_equal(screen.render(), shown)
    clock.advance(0.2)  # banner_s is 3 s
    assert np.array_equal(screen.render(), idle)


def test_idle_text_follows_the_language(make_screen):
    vi, en = make_screen(Messages("vi")).render(), make_screen(Messages("en")).render()
    assert not np.array_equal(crop(vi, LAYOUT.bar), crop(en, LAYOUT.bar))


def test_vietnamese_diacritics_are_drawn(make_screen):
    with_marks = make_screen(Messages("vi", {"identity-ok": "Mời vào"}))
    without = make_screen(Messages("vi", {"identity-ok": "Moi vao"}))
    a = crop(banner_in(decided(with_marks, "ACCEPT")), LAYOUT.text)
    b = crop(banner_in(decided(without, "ACCEPT")), LAYOUT.text)
    assert not np.array_equal(a, b)
    rows_a = np.flatnonzero(ink(a, COLOURS["ACCEPT"][0]).any(axis=1))
    rows_b = np.flatnonzero(ink(b, COLOURS["ACCEPT"][0]).any(axis=1))
    assert rows_a[0] < rows_b[0]  # the grave accent and horn rise above the capital M
    assert rows_a[-1] == rows_b[-1]  # on the same baseline: the marks did not move the line


def test_dejavu_is_found_with_vietnamese_glyphs():
    fonts = Fonts.find()
    assert fonts.bold is not None, "install the DejaVu fonts: apt-get install fonts-dejavu-core"
    assert fonts.regular is not None


def test_without_a_font_it_warns_and_still_renders(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(screen_module, "DEJAVU", tmp_path)
    with caplog.at_level(logging.WARNING):
        fonts = Fonts.find(tmp_path / "missing.ttf")
    assert fonts == Fonts(None, None)
    assert "feedback.screen.font" in caplog.text and "diacritics may be lost" in caplog.text
    image = screen_module.ScreenRenderer(W, H, Messages("vi"), fonts=fonts).render(None, None, 0.0)
    assert ink(crop(image, LAYOUT.bar), BAR[0]).mean() > 0.01


def test_unknown_reason_shows_the_generic_message_and_nothing_of_the_code(make_screen, clock):
    screen = make_screen()
    unknown = crop(banner_in(decided(screen, "REVIEW")), LAYOUT.text)  # status-yellow: "please wait for the guard"
    screen.signal(event("REVIEW", "no-such-reason"))
    assert np.array_equal(crop(banner_in(screen.render()), LAYOUT.text), unknown)
    # What the screen keeps of a frame: the image and where codes are; never what they say.
    frame = on_canvas(qr_image("079203012345||Nguyễn Văn An", scale=4), at=(100, 200))
    screen.frame(Frame(frame, 0, clock.monotonic()), DecoderChain([ZxingDecoder()]).decode(frame))
    assert {f.name for f in fields(Seen)} == {"image", "codes", "unread"}
    seen, _ = screen._seen
    assert seen.codes and "079203012345" not in repr(seen.codes) + repr(seen.unread)
    assert "text" not in {f.name for f in fields(Event)}


def test_frame_and_signal_return_at_once_even_when_the_display_is_slow(make_screen, clock):
    class SlowPresenter(MemoryPresenter):
        def show(self, image_bgr):
            time.sleep(0.2)
            super().show(image_bgr)

    screen = make_screen(presenter=SlowPresenter(), open_timeout_s=1.0)
    image = np.full((720, 1280), 128, dtype=np.uint8)
    result = ChainResult([], [(10, 10, 50, 50)], 1)
    frames, signals = [], []
    for n in range(500):
        started = time.perf_counter()
        screen.frame(Frame(image, n, clock.monotonic()), result)
        frames.append(time.perf_counter() - started)
        if n % 5 == 0:
            started = time.perf_counter()
            screen.signal(event("ACCEPT", "identity-ok"))
            signals.append(time.perf_counter() - started)
    # Percentiles, not the maximum: any Python thread (this render thread, capture, logging) may hold the GIL
    # for up to sys.getswitchinterval() (5 ms) at a time, whatever the call does.
    assert np.percentile(frames, 99) < 0.001
    assert np.percentile(signals, 95) < 0.001
    assert screen.presenter.shown <= 10  # the display was slow all along: nothing waited for it


def test_render_thread_shows_the_newest_state_and_close_stops_it(make_screen):
    presenter = MemoryPresenter()
    screen = make_screen(presenter=presenter)
    assert presenter.wait(2)
    screen.signal(event("DENY", "denylisted"))
    assert presenter.wait(presenter.shown + 2)
    assert np.array_equal(presenter.images[-1], screen.render())
    screen.close()
    assert presenter.closed and not screen._thread.is_alive()


@pytest.fixture
def sdl_dummy(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    return pytest.importorskip("pygame")


def test_pygame_presents_the_rendered_screen(sdl_dummy, make_screen):
    pygame = sdl_dummy
    presenter = PygamePresenter(W, H, fullscreen=False)
    screen = make_screen(presenter=presenter)
    screen.signal(event("ACCEPT", "identity-ok"))
    expected = screen.render()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and screen.rendered < 3:
        time.sleep(0.01)
    surface = pygame.display.get_surface()
    assert surface.get_size() == (W, H)
    x, y = LAYOUT.banner[0] + 4, LAYOUT.banner[1] + 4
    assert tuple(surface.get_at((x, y)))[:3] == tuple(expected[y, x][::-1])  # RGB on the surface, BGR rendered
    screen.close()
    assert not pygame.display.get_init()


def test_pygame_window_closed_by_hand_ends_the_display_not_the_kiosk(sdl_dummy):
    pygame = sdl_dummy
    presenter = PygamePresenter(W, H, fullscreen=False)
    image = np.zeros((H, W, 3), dtype=np.uint8)
    presenter.show(image)
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    presenter.show(image)
    presenter.show(image)
    assert presenter.closed and not pygame.display.get_init()


def test_pygame_without_bgr_buffers_swaps_the_channels_itself(sdl_dummy, monkeypatch):
    pygame = sdl_dummy
    original = pygame.image.frombuffer

    def old_frombuffer(buffer, size, fmt):  # as a pygame that knows no "BGR" format
        if fmt == "BGR":
            raise ValueError("Unrecognized type of format")
        return original(buffer, size, fmt)

    monkeypatch.setattr(pygame.image, "frombuffer", old_frombuffer)
    presenter = PygamePresenter(W, H, fullscreen=False)
    image = np.zeros((H, W, 3), dtype=np.uint8)
    image[:, :] = (30, 60, 200)  # BGR: red
    presenter.show(image)
    assert tuple(pygame.display.get_surface().get_at((5, 5)))[:3] == (200, 60, 30)
    presenter.close()


def test_pygame_without_a_display_says_what_to_set(sdl_dummy, monkeypatch, clock):
    monkeypatch.setenv("SDL_VIDEODRIVER", "no-such-driver")
    with pytest.raises(ScreenError, match="kmsdrm"):
        ScreenFeedback(config(), Messages("vi"), presenter=PygamePresenter(W, H), clock=clock.monotonic)


def test_opencv_headless_has_no_window_and_says_so():
    import cv2

    if cv2.currentUIFramework():
        pytest.skip("this OpenCV has highgui")
    with pytest.raises(ScreenError, match="opencv-python"):
        OpenCVPresenter()


def test_loop_drives_the_screen_with_frames_and_banners(tmp_path: Path):
    kiosk_config = config_for(tmp_path)
    frames = scene("https://example.vn/menu", None, "https://example.vn/other")
    recorder = Recorder(kiosk_config.database_path)
    presenter = MemoryPresenter(keep=1000)
    screen = ScreenFeedback(config(fps=60), Messages("vi"), presenter=presenter)
    source = ImageFolderSource(write_images(tmp_path / "f", frames), fps=30)  # paced: each frame is on screen
    kiosk = assemble(kiosk_config, source=source, feedback=FeedbackFanout([recorder, screen]))
    kiosk.loop.on_frame = screen.frame
    try:
        run_until_end(kiosk)  # closes the screen too
    finally:
        screen.close()
    assert [e.decision for e in recorder.signalled] == ["ACCEPT", "ACCEPT"]
    accept = COLOURS["ACCEPT"][0]
    with_banner = [i for i in presenter.images if np.abs(banner_in(i)[:8].mean(axis=(0, 1)) - accept).max() < 2]
    assert with_banner, "no image showed the ACCEPT banner"
    blank = [i for i in presenter.images if (crop(i, LAYOUT.view) == 130).all(axis=2).mean() > 0.3]
    assert blank, "no image showed a camera frame (blank frames are grey 130)"
    outlined = [
        i
        for i in presenter.images
        if (np.abs(crop(i, LAYOUT.view).astype(int) - READ_COLOUR).max(axis=2) < 8).sum() > 200
    ]
    assert outlined, "no image outlined a code"
    assert presenter.closed
