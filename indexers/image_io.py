"""Decoding images safely: pixel cap before decoding, EXIF orientation, first GIF frame."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from indexers import config

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


class ImageDecodeError(ValueError):
    """The file is not a usable image; the message says why in a few words."""


def max_pixels() -> int:
    """The largest image (width × height) that is decoded; larger ones are refused from the header."""
    return config.current().max_pixels


#: The side of the square thumbnails the UI shows (`save_thumbnail`).
THUMB_SIDE = 256


def open_image(source: str | Path | bytes, max_side: int = 512, short_side: int = 224):
    """Decode to an RGB PIL image no larger than `max_side` (models resize further);
    `img.info["orig_size"]` keeps the full size as displayed (after EXIF orientation).

    A JPEG decodes at the smallest DCT scale (1/2, 1/4, 1/8: that much less work) whose
    shorter side still reaches `short_side` (the largest model input the photo is for) and
    whose longer side reaches the thumbnail's. The pixel count is checked from the header
    before any pixel is decoded, so a decompression bomb is refused without using memory.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageDecodeError("empty file")
        fp: io.BytesIO | Path = io.BytesIO(source)
    else:
        fp = Path(source)
        if fp.stat().st_size == 0:
            raise ImageDecodeError("empty file")
    _leave_the_cap_to_us()
    try:
        img = Image.open(fp)
        w, h = img.size
        if w * h > max_pixels():
            raise ImageDecodeError(f"image too large: {w}×{h} pixels exceeds the {max_pixels():,}-pixel cap")
        if img.format == "JPEG":
            img.draft("RGB", draft_request(w, h, short_side))
        img.seek(0)  # first frame of GIFs and multi-page TIFFs
        img.load()
        orientation = img.getexif().get(0x0112)
        if orientation in (5, 6, 7, 8):  # EXIF orientation: rotated 90°/270°
            w, h = h, w  # report the size as displayed
        if orientation in (2, 3, 4, 5, 6, 7, 8):  # turned or mirrored (transposing copies the image)
            img = ImageOps.exif_transpose(img)
        img = _to_rgb(img)
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)  # see `save_thumbnail`
        img.info["orig_size"] = (w, h)
        return img
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image (unrecognised format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"image too large: exceeds the {max_pixels():,}-pixel cap") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"corrupt or truncated image ({str(exc)[:120]})") from None


def draft_request(width: int, height: int, short_side: int) -> tuple[int, int]:
    """The size to ask a JPEG decoder for (it picks the smallest scale at least this large on
    both sides): the shorter side `short_side`, the longer the thumbnail's side or more.

    Asking for the thumbnail's side on both (as before) decoded a 640×480 photo whole; this
    decodes it at 320×240 in half the CPU, and a 224-px model crop from it upsamples by at
    most 256/224 where the model resizes to 256 first. EfficientNet-Lite0's vectors of 64
    photos moved by cosine 0.9986 on average, less than a full-size bicubic decode moves
    them from ours (0.996)."""
    long_side = max(short_side, THUMB_SIDE)
    return (long_side, short_side) if width >= height else (short_side, long_side)


def _leave_the_cap_to_us() -> None:
    """Ignore PIL's DecompressionBombWarning (at ~89.5 M pixels): our own cap (`max_pixels`)
    decides, and PIL's hard error (~179 M) still refuses before decoding.

    A filter for the whole process, put first when it is not, rather than `warnings.catch_warnings`
    around each decode: that swaps the process-wide filter list on entry and exit, and on the
    decode workers it put back a list without the filter another thread had just added (a CNN
    forward freezing beside them; `make demo` printed torch's FutureWarning)."""
    from PIL import Image

    first = ("ignore", None, Image.DecompressionBombWarning, None, 0)
    if warnings.filters[:1] != [first]:
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _to_rgb(img):
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.split()[-1])
        return bg
    return img.convert("RGB")


def save_thumbnail(img, path: Path, size: int = THUMB_SIDE) -> None:
    """A square, letterboxed JPEG for the UI's grid, so cards line up (written atomically)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    # Bilinear: Pillow widens its filter with the scale when shrinking (antialiased, as its
    # bicubic is) at ~35 % less CPU here; the thumbnail differs from bicubic's by 0.8/255 on
    # average. Resizing makes a new image, so the decoded one need not be copied first.
    scale = size / max(img.size)
    if scale < 1:
        thumb = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR)
    else:
        thumb = img
    square = Image.new("RGB", (size, size), (240, 242, 246))
    square.paste(thumb, ((size - thumb.width) // 2, (size - thumb.height) // 2))
    tmp = path.with_suffix(".tmp")
    square.save(tmp, "JPEG", quality=85)
    os.replace(tmp, path)
