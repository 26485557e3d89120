"""Safe image decoding: pixel cap from the header, EXIF orientation, first GIF frame, bad files."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from indexers import config
from indexers.image_io import ImageDecodeError, open_image, save_thumbnail


def test_pixel_cap_refuses_a_huge_header_before_decoding(png_header, tmp_path, monkeypatch):
    from PIL import ImageFile

    data = png_header(50_000, 50_000)  # claims 2.5 G pixels (7.5 GB decoded) in ~100 bytes
    assert len(data) < 200

    def no_decoding(self):  # the refusal must come from the header, before any pixel is decoded
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageDecodeError, match="too large"):
        open_image(data)
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    with pytest.raises(ImageDecodeError, match="too large"):
        open_image(path)


def test_pixel_cap_comes_from_the_settings(png_header):
    from app.context import apply_settings
    from app.settings import Settings

    apply_settings(Settings.load(environ={"MMSEARCH_MAX_PIXELS": "1000"}))  # restored by the conftest
    with pytest.raises(ImageDecodeError, match=r"40×40 pixels exceeds the 1,000-pixel cap"):
        open_image(png_header(40, 40))


def test_our_cap_not_pils_warning_threshold_decides(monkeypatch):
    """Regression: PIL's DecompressionBombWarning fires at MAX_IMAGE_PIXELS (~89 M by default),
    below mmsearch's 100 M default cap; it used to be turned into a refusal, so images the cap
    allows were refused. Scaled down here: PIL warns above 1 000 pixels, our cap is 10 000."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    config.configure(max_pixels=10_000)  # restored by the conftest
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 200, 10)).save(buf, "PNG")  # 1 600 px: PIL warns, our cap allows
    img = open_image(buf.getvalue())
    assert img.size == (40, 40) and img.getpixel((5, 5)) == (10, 200, 10)
    buf = io.BytesIO()
    Image.new("RGB", (120, 120)).save(buf, "PNG")  # 14 400 px: over our cap
    with pytest.raises(ImageDecodeError, match="too large"):
        open_image(buf.getvalue())


def test_decoding_leaves_the_process_warning_filters_alone(monkeypatch):
    """Decode workers run beside other threads: entering and leaving `warnings.catch_warnings`
    there put back a filter list without a filter another thread had added meanwhile (torch's
    FutureWarning reached `make demo`). Decoding (PIL warning included) now uses none."""
    import warnings

    def swapping(*args, **kwargs):
        raise AssertionError("open_image swapped the process's warning filters")

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    config.configure(max_pixels=10_000)  # restored by the conftest
    monkeypatch.setattr(warnings, "catch_warnings", swapping)
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 200, 10)).save(buf, "PNG")  # PIL warns above 1 000 px
    before = warnings.filters
    assert open_image(buf.getvalue()).size == (40, 40)
    assert warnings.filters is before


@pytest.mark.parametrize("orientation, expected_size", [(1, (80, 40)), (2, (80, 40)), (3, (80, 40)), (6, (40, 80)), (8, (40, 80))])
def test_exif_orientation_is_honoured(orientation, expected_size):
    """An 80×40 JPEG tagged "rotate 90°" (6 or 8) is a 40×80 portrait photo."""
    from PIL import ImageDraw

    img = Image.new("RGB", (80, 40), (0, 0, 255))
    ImageDraw.Draw(img).rectangle([0, 0, 19, 39], fill=(255, 0, 0))  # red band on the stored left
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    out = open_image(buf.getvalue())
    assert out.size == expected_size
    assert out.info["orig_size"] == expected_size  # the stored width/height follow the display
    # where the red band ends up: orientation 6 turns the stored left edge into the top
    red_at = {1: (2, 20), 2: (77, 20), 3: (77, 20), 6: (20, 2), 8: (20, 77)}[orientation]
    r, g, b = out.getpixel(red_at)
    assert r > 200 and b < 60


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    out = open_image(path)
    assert out.mode == "RGB"
    r, g, b = out.getpixel((16, 16))
    assert r > 200 and g < 50 and b < 50


def test_large_photo_is_reduced_and_converted(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGBA", (2000, 1000), (0, 0, 0, 0)).save(path)
    out = open_image(path, max_side=512)
    assert out.size == (512, 256)
    assert out.info["orig_size"] == (2000, 1000)
    assert out.mode == "RGB" and out.getpixel((10, 10)) == (255, 255, 255)  # transparency → white


@pytest.mark.parametrize(
    "stored, short_side, decoded",
    [
        ((640, 480), 224, (320, 240)),  # half scale: 240 ≥ 224 and 320 ≥ the 256-px thumbnail
        ((480, 640), 224, (240, 320)),  # portrait alike
        ((640, 480), 384, (512, 384)),  # a 384-px model keeps the whole photo (then bounded to 512)
        ((500, 300), 224, (500, 300)),  # half would be 150 high: decoded whole
        ((4000, 3000), 224, (500, 375)),  # an eighth: the smallest scale libjpeg has
        ((1600, 400), 224, (512, 128)),  # a panorama: its short side cannot reach 224 at any scale
    ],
)
def test_jpegs_decode_at_the_smallest_scale_the_models_and_thumbnail_need(stored, short_side, decoded):
    buf = io.BytesIO()
    Image.new("RGB", stored, (90, 140, 200)).save(buf, "JPEG", quality=90)
    out = open_image(buf.getvalue(), short_side=short_side)
    assert out.size == decoded
    assert out.info["orig_size"] == stored


def test_grayscale_and_palette_become_rgb(tmp_path):
    Image.new("L", (20, 20), 128).save(tmp_path / "g.png")
    Image.new("P", (20, 20), 3).save(tmp_path / "p.gif")
    for name in ("g.png", "p.gif"):
        assert open_image(tmp_path / name).mode == "RGB"


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"this is not a picture\n" * 20, "not an image"),
        ("noise.png", bytes(range(256)) * 10, "not an image"),
    ],
)
def test_unusable_files_give_a_short_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageDecodeError, match=reason) as exc:
        open_image(path)
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 200


def test_truncated_jpeg_is_refused(make_jpeg):
    data = make_jpeg(size=(300, 200), noise=True)
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        open_image(data[: len(data) // 2])


def test_save_thumbnail_writes_a_small_square_jpeg(tmp_path):
    """Thumbnails are size × size JPEGs with the whole photo letterboxed inside (aspect kept)."""
    target = tmp_path / "th" / "ab" / "abc.jpg"
    save_thumbnail(Image.new("RGB", (600, 300), (200, 30, 30)), target, size=256)
    with Image.open(target) as th:
        assert th.format == "JPEG" and th.size == (256, 256)
        r, g, b = th.convert("RGB").getpixel((128, 128))  # inside the photo
        assert r > 170 and g < 70 and b < 70
        r, g, b = th.convert("RGB").getpixel((128, 20))  # the band above the 256×128 photo
        assert min(r, g, b) > 200
    assert not list(target.parent.glob("*.tmp"))


def test_a_small_photo_keeps_its_size_in_the_thumbnail(tmp_path):
    """A photo smaller than the thumbnail is centred as it is, not enlarged."""
    target = tmp_path / "small.jpg"
    save_thumbnail(Image.new("RGB", (100, 50), (30, 30, 200)), target, size=256)
    with Image.open(target) as th:
        th = th.convert("RGB")
        assert th.size == (256, 256)
        r, g, b = th.getpixel((128, 128))
        assert b > 170 and r < 70
        for x, y in ((70, 128), (128, 95), (128, 160)):  # just outside the 100×50 photo
            assert min(th.getpixel((x, y))) > 200
