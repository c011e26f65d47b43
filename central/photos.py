"""A picture of a QR code, as uploaded (its bytes) or named on the command line (a file), turned into the grey
image the kiosk's still reader takes (kiosk/decode/still.py), after refusing what is not a picture or too large.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from central.errors import CentralError

if TYPE_CHECKING:  # numpy and OpenCV are imported when a picture comes, not when the centre starts
    import numpy as np
    import numpy.typing as npt

    Grey = npt.NDArray[np.uint8]  # a 2-D greyscale image (height x width), as kiosk.camera.base.Grey

MAX_PIXELS = 25_000_000  # a phone's 12-megapixel photo is well inside; a 250 KB PNG can claim 256 megapixels


class PhotoError(CentralError, ValueError):
    """The picture cannot be read, or is too large to: the message names it and says which."""


def grey_of(image: Path | bytes) -> Grey:
    """The picture in grey; PhotoError if it is larger than MAX_PIXELS or not a readable image."""
    import cv2
    import numpy as np

    check_size(image)
    if isinstance(image, bytes):
        decoded = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_GRAYSCALE) if image else None
        grey = None if decoded is None else cast("Grey", decoded)
    else:
        grey = _load_grey(image) if image.is_file() else None
    if grey is None:
        raise PhotoError(f"{name_of(image)} is not a readable image (PNG, JPEG, WebP, ...)")
    return grey


def check_size(image: Path | bytes) -> None:
    """Refuse a picture from its header alone when it is larger than MAX_PIXELS: decoding a compressed bomb
    (found by bench/fuzz.py: 16,000 x 16,000 blank pixels in a 250 KB PNG) took 13 s and 2.3 GB."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    too_large = f"more than {MAX_PIXELS // 1_000_000} megapixels: send a smaller picture (a QR code needs far fewer)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as pil:
                width, height = pil.size
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours
        raise PhotoError(f"{name_of(image)} is {too_large}") from None
    except (OSError, UnidentifiedImageError, ValueError):
        raise PhotoError(f"{name_of(image)} is not a readable image (PNG, JPEG, WebP, ...)") from None
    if width * height > MAX_PIXELS:
        raise PhotoError(f"{name_of(image)} is {width} x {height} pixels, {too_large}")


def _load_grey(path: Path) -> Grey | None:
    """The file in grey, or None if it cannot be read as an image, as the kiosk reads an image file
    (kiosk/camera/images.py load_grey): OpenCV first, Pillow for what it refuses (tiny WebP files, some GIFs)."""
    import cv2
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is not None:
        return cast("Grey", image)
    try:
        with Image.open(path) as pil:
            return np.asarray(pil.convert("L"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def name_of(image: Path | bytes) -> str:
    """What to call the picture in a message."""
    return "the uploaded picture" if isinstance(image, bytes) else str(image)
