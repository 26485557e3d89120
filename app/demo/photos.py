"""Sample data for `make demo` and the tests, copied from installed packages (nothing downloaded)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

# scikit-image's bundled sample photos (real photographs and scans).
SKIMAGE_PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "coffee.png", "coins.png",
    "grass.png", "gravel.png", "horse.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
    "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png", "color.png",
)
# Debian opencv-doc's example photos (apt-get install opencv-doc), where present.
OPENCV_DOC_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_PHOTOS = (
    "apple.jpg", "baboon.jpg", "butterfly.jpg", "fruits.jpg", "orange.jpg", "messi5.jpg", "home.jpg",
    "building.jpg", "HappyFish.jpg", "lena.jpg", "starry_night.jpg", "board.jpg", "aero1.jpg", "pic1.png",
    "smarties.png", "sudoku.png", "graf1.png", "box.png", "Blender_Suzanne1.jpg", "LinuxLogo.jpg", "ml.png",
)


def skimage_photo_dir() -> Path:
    """The photos inside the installed package (not `skimage.data.data_dir`, which points
    at a download cache once one exists)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise RuntimeError("scikit-image is not installed: pip install 'mmsearch[demo]'")
    return Path(spec.origin).parent / "data"


def prepare_photos(dest: Path) -> Path:
    """Copy the sample photos into `dest` (idempotent) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    sources = [skimage_photo_dir() / n for n in SKIMAGE_PHOTOS]
    sources += [OPENCV_DOC_DIR / n for n in OPENCV_PHOTOS]
    copied = 0
    for src in sources:
        if not src.exists():
            continue
        target = dest / src.name
        if not target.exists():
            shutil.copyfile(src, target)
            copied += 1
    if not (OPENCV_DOC_DIR / "fruits.jpg").exists():
        log.info("Debian's opencv-doc is not installed: the demo uses scikit-image's photos only")
    log.info("sample photos in %s (%d new)", dest, copied)
    return dest
