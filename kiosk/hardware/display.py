"""The screen as a feedback output: a render thread that puts the newest state on a display.

`ScreenFeedback.frame` (the loop's `on_frame`) and `signal` only swap a reference; the render thread draws at
`fps` and hands each image to a presenter: pygame/SDL, OpenCV highgui, or memory (tests).

pygame follows SDL_VIDEODRIVER from the environment. On Raspberry Pi OS Lite (no desktop) set
SDL_VIDEODRIVER=kmsdrm in the service's environment: SDL then draws straight to the display through DRM/KMS; the
service user must be in the `video` and `render` groups, and no desktop may hold the display. With a desktop,
leave it unset (SDL picks x11 or wayland); tests use SDL_VIDEODRIVER=dummy.
NOTE: the SDL bundled in PyPI's pygame wheels is built without kmsdrm (pygame 2.6.1 x86_64: "kmsdrm not
available"; pygame issues #3168, #4135). Debian's libsdl2 has it: on a Pi install python3-pygame from apt (the
venv sees it through --system-site-packages) rather than the wheel, or build pygame against libsdl2-dev.

A presenter is used from one thread only, the render thread, which opens it with the first `show` and closes it
when it ends: SDL wants its window used from the thread that created it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from kiosk.camera.base import Frame
from kiosk.config.outputs import ScreenConfig
from kiosk.decode.chain import ChainResult
from kiosk.errors import KioskError
from kiosk.events import Event
from kiosk.hardware.screen import Banner, Fonts, Image_, ScreenRenderer, Seen
from kiosk.logs import Throttle
from kiosk.policy.messages import Messages

if TYPE_CHECKING:
    import pygame

log = logging.getLogger(__name__)

STALE_S = 2.0  # the camera view goes dark when no frame has come for this long (the loop reports the stall)


class ScreenError(KioskError, RuntimeError):
    """The configured screen cannot be driven on this machine."""


class Presenter(Protocol):
    def show(self, image_bgr: Image_) -> None:
        """Put `image_bgr` (height x width x 3, uint8) on the display; the first call opens it."""
        ...

    def close(self) -> None:
        """Release the display; safe to call twice."""
        ...


class MemoryPresenter:
    """Keeps the last `keep` images shown: the fake display of the tests."""

    def __init__(self, keep: int = 32) -> None:
        self.images: deque[Image_] = deque(maxlen=keep)
        self.shown = 0
        self.closed = False
        self._cond = threading.Condition()

    def show(self, image_bgr: Image_) -> None:
        with self._cond:
            self.images.append(image_bgr)
            self.shown += 1
            self._cond.notify_all()

    def close(self) -> None:
        self.closed = True

    def wait(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until `count` images have been shown in all; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.shown >= count, timeout)


class PygamePresenter:
    """A pygame window, or the whole screen (kmsdrm) when `fullscreen`. A closed window ends the display only."""

    def __init__(self, width: int, height: int, *, fullscreen: bool = True, title: str = "kiosk") -> None:
        self.size = (width, height)
        self.fullscreen = fullscreen
        self.title = title
        self.closed = False
        self._screen: pygame.Surface | None = None

    def show(self, image_bgr: Image_) -> None:
        if self.closed:
            return
        screen = self._screen or self._open()
        import pygame  # already imported by _open: a dictionary look-up

        if any(event.type == pygame.QUIT for event in pygame.event.get()):  # a desktop window closed by hand
            log.warning("the screen window was closed; the kiosk goes on without a screen")
            self.close()
            return
        height, width = image_bgr.shape[:2]
        try:
            surface = pygame.image.frombuffer(np.ascontiguousarray(image_bgr).data, (width, height), "BGR")
        except ValueError:  # a pygame without "BGR" in frombuffer (older distribution packages): one copy more
            surface = pygame.image.frombuffer(np.ascontiguousarray(image_bgr[:, :, ::-1]).data, (width, height), "RGB")
        if surface.get_size() != screen.get_size():
            surface = pygame.transform.scale(surface, screen.get_size())
        screen.blit(surface, (0, 0))
        pygame.display.flip()

    def close(self) -> None:
        self.closed = True
        if self._screen is not None:
            import pygame

            self._screen = None
            pygame.display.quit()

    def _open(self) -> pygame.Surface:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
        except ImportError as exc:
            raise ScreenError(f"pygame is not installed ({exc}): pip install pygame") from exc
        try:
            pygame.display.init()
            screen = pygame.display.set_mode(self.size, pygame.FULLSCREEN if self.fullscreen else 0)
        except pygame.error as exc:
            pygame.display.quit()
            raise ScreenError(
                f"pygame cannot open the display with SDL_VIDEODRIVER={os.environ.get('SDL_VIDEODRIVER', '(unset)')}:"
                f" {exc}. Without a desktop set SDL_VIDEODRIVER=kmsdrm and add the service user to the video and "
                'render groups; with one, leave it unset or set feedback.screen.driver = "opencv"'
            ) from exc
        pygame.display.set_caption(self.title)
        pygame.mouse.set_visible(not self.fullscreen)
        if screen.get_size() != self.size:
            log.warning("the screen is %s, not feedback.screen's %s: images are scaled", screen.get_size(), self.size)
        self._screen = screen
        return screen


class OpenCVPresenter:
    """An OpenCV highgui window (needs opencv-python with a GUI backend and a desktop)."""

    def __init__(self, *, fullscreen: bool = True, title: str = "kiosk") -> None:
        if not _has_highgui():
            raise ScreenError(
                "this OpenCV has no highgui (opencv-python-headless cannot open windows): install opencv-python "
                'in its place, or set feedback.screen.driver = "pygame"'
            )
        self.fullscreen = fullscreen
        self.title = title
        self.closed = False
        self._opened = False

    def show(self, image_bgr: Image_) -> None:
        if self.closed:
            return
        if not self._opened:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
            if self.fullscreen:
                cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
            self._opened = True
        elif cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:  # closed by hand; imshow would reopen it
            log.warning("the screen window was closed; the kiosk goes on without a screen")
            self.closed = True
            return
        cv2.imshow(self.title, image_bgr)
        cv2.waitKey(1)  # highgui draws and handles window events only in here

    def close(self) -> None:
        self.closed = True
        if self._opened:
            self._opened = False
            cv2.destroyWindow(self.title)


def _has_highgui() -> bool:
    if hasattr(cv2, "currentUIFramework"):  # OpenCV 4.6 and later: "" when built without a GUI backend
        return bool(cv2.currentUIFramework())
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return match is not None and match.group(1).upper() != "NONE"


def make_presenter(config: ScreenConfig) -> Presenter:
    """The presenter `config.driver` names; the display itself opens on the first image."""
    if config.driver == "opencv":
        return OpenCVPresenter(fullscreen=config.fullscreen)
    return PygamePresenter(config.width, config.height, fullscreen=config.fullscreen)


class ScreenFeedback:
    """The screen output: live camera view with overlays, a banner per decision, idle instructions.

    Implements the Feedback protocol, and `frame` is meant for `ScanLoop.on_frame`. Both run on the loop's
    thread and only swap a reference; drawing and presenting happen on the "screen" thread, at `config.fps`.
    It is handed decisions and reason codes only, so it cannot show what a code contains.
    """

    def __init__(
        self,
        config: ScreenConfig,
        messages: Messages,
        *,
        roi: tuple[float, float, float, float] | None = None,
        presenter: Presenter | None = None,
        clock: Callable[[], float] = time.monotonic,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.renderer = ScreenRenderer(config.width, config.height, messages, roi=roi, fonts=Fonts.find(config.font))
        self.presenter = presenter if presenter is not None else make_presenter(config)
        self.banner_s = config.banner_s
        self.period_s = 1.0 / config.fps
        self.rendered = 0
        self._clock = clock
        self._seen: tuple[Seen, float] | None = None  # the newest frame, and when it came
        self._banner: Banner | None = None
        self._drawing = threading.Lock()  # Pillow's fonts are not for two threads at once
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._throttle = Throttle(log)
        self._thread = threading.Thread(target=self._run, name="screen", daemon=True)
        self._thread.start()
        # Opening the display happens on the render thread; its failure is reported here, at startup.
        if not self._opened.wait(open_timeout_s):
            log.error("the screen did not open within %.0f s; it will show once it does", open_timeout_s)
        elif self._open_error is not None:
            self.close()
            raise ScreenError(str(self._open_error)) from self._open_error

    def frame(self, frame: Frame, result: ChainResult) -> None:
        """Take the newest frame and where its codes are (not what they say). O(1); for `ScanLoop.on_frame`."""
        codes = tuple(code.corners for code in result.codes)
        # A reference, not a copy: no source reuses a frame's array, and nothing downstream writes into it.
        self._seen = Seen(frame.image, codes, tuple(result.unread)), self._clock()

    def signal(self, event: Event) -> None:
        self._show_banner(str(event.decision), event.reason)  # a StrEnum from the policy: its value

    def fault(self, reason: str) -> None:
        self._show_banner("FAULT", reason)

    def close(self) -> None:
        """Stop the render thread, which closes the display on its way out."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        if self._thread.is_alive():
            log.error("the screen thread is stuck in its display; closing it is left to the process exit")

    def render(self) -> Image_:
        """The screen as it is now (what the render thread draws); tests call it directly.

        A frame older than STALE_S is not shown: a frozen picture would tell a person the camera sees them.
        """
        now = self._clock()
        seen = self._seen
        live = seen[0] if seen is not None and now - seen[1] < STALE_S else None
        with self._drawing:
            return self.renderer.render(live, self._banner, now)

    def _show_banner(self, outcome: str, reason: str) -> None:
        self._banner = Banner(outcome, reason, self._clock() + self.banner_s)
        self._wake.set()  # show it now, not at the next tick

    def _run(self) -> None:
        try:
            self._present()
        except Exception as exc:
            self._open_error = exc
            self._opened.set()
            self._close_presenter()
            return
        self._opened.set()
        try:
            due = time.monotonic()
            while not self._stop.is_set():
                due = max(due + self.period_s, time.monotonic())
                self._wake.wait(max(0.0, due - time.monotonic()))
                self._wake.clear()
                if not self._stop.is_set():
                    self._tick()
        finally:
            self._close_presenter()

    def _tick(self) -> None:
        try:
            self._present()
        except Exception:  # a display fault must not end the screen, let alone the gate
            self._throttle.error("present", "the screen could not be drawn", exc_info=True)

    def _present(self) -> None:
        self.presenter.show(self.render())
        self.rendered += 1

    def _close_presenter(self) -> None:
        try:
            self.presenter.close()
        except Exception:
            log.exception("closing the screen failed")
