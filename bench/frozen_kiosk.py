"""`kiosk` with a camera that can freeze: once the file named by $KIOSK_BENCH_FREEZE exists, every read of the
replay source blocks for ever, as a V4L2 or libcamera driver that stops delivering buffers does. The rest is
the real `kiosk run`. Used by bench/watchdog_restart.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.camera.files import ImageFolderSource, VideoFileSource
from kiosk.cli import main

FLAG = Path(os.environ["KIOSK_BENCH_FREEZE"])
_never = threading.Event()


def freezing(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapper(self: Any) -> Any:
        if FLAG.exists():
            _never.wait()
        return read(self)

    return wrapper


VideoFileSource.read = freezing(VideoFileSource.read)
ImageFolderSource.read = freezing(ImageFolderSource.read)

if __name__ == "__main__":
    main()
