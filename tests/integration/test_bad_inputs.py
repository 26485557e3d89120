"""Every kind of bad input, side by side, through the real `mmsearch index …` commands.

`BAD_INPUTS` is the one list of what a user may hand the indexers by mistake: truncated and
corrupt JPEG/PNG/WebP, a decompression bomb, zero-byte files, text files named .jpg/.mp4/.wav,
sounds with no samples or only NaNs, videos with no frames, PDFs without text, text in no
known encoding, and catalogue rows with missing cells, bad prices, duplicate ids or image
paths that leave the catalogue's folder. Each command runs once, as its own process
(`tests.fake_cli`: the real CLI with the `fake:16` encoder), over a folder where these sit
among good files, and must: exit 0; name each bad input on exactly one line with its
reason; index every good file; count indexed / unchanged / skipped in its summary.
The corpus is generated in tmp_path; nothing binary is committed.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tests.conftest import jpeg_bytes, png_header_bytes
from tests.doc_samples import MARKDOWN, make_pdf
from tests.fake_cli import run, stored_rows

RATE = 16000
CATALOGUE = "catalogue.csv"
CATALOGUE_HEADER = "id,title,price,currency,category,image\n"


# -- makers: each writes one input into a folder and returns how the CLI names it -----------
Maker = Callable[[Path, str], str]


def _file(data: Callable[[], bytes]) -> Maker:
    def make(folder: Path, name: str) -> str:
        path = folder / name
        path.write_bytes(data())
        return str(path.resolve())

    return make


def _image(fmt: str) -> bytes:
    """A small noisy image (noise, so that a cut or a flipped byte lands in real data)."""
    from PIL import Image

    img = Image.merge("RGB", [Image.effect_noise((64, 48), 60 + 20 * c) for c in range(3)])
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _truncated(fmt: str) -> bytes:
    data = _image(fmt)
    return data[: len(data) // 2]


def _corrupt_jpeg() -> bytes:
    """A JPEG whose Huffman table is overwritten: the header parses, the pixels do not."""
    data = jpeg_bytes(noise=True)
    at = data.index(b"\xff\xc4") + 5
    return data[:at] + b"\xff" * 16 + data[at + 16 :]


def _corrupt_png() -> bytes:
    data = _image("PNG")
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :]


def _corrupt_webp() -> bytes:
    """RIFF/WEBP headers intact, the VP8 bitstream replaced by garbage."""
    data = _image("WEBP")
    return data[:20] + bytes((7 * i) % 256 for i in range(len(data) - 20))


def _wav(samples: np.ndarray, subtype: str = "PCM_16") -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples.astype(np.float32), RATE, format="WAV", subtype=subtype)
    return buf.getvalue()


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def _mp4(seconds: float = 2.0, video: bool = True, audio: bool = True, fps: int = 5) -> bytes:
    """A tiny H.264/AAC mp4: grey frames that change every frame, noise on the sound track."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as dst:
        vs = dst.add_stream("libx264", rate=fps) if video else None  # every stream before the first packet
        if vs is not None:
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
            vs.options = {"preset": "ultrafast"}
        ast = dst.add_stream("aac", rate=RATE) if audio else None
        if ast is not None:
            ast.layout = "mono"
        dst.start_encoding()  # the header, even when no frame follows
        for n in range(int(seconds * fps) if vs is not None else 0):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), (n * 40) % 256, dtype=np.uint8), format="rgb24")
            frame.pts = n
            dst.mux(vs.encode(frame))
        if ast is not None:
            pcm = (_noise(seconds) * 32767).astype(np.int16)
            for i in range(0, pcm.size, 1024):
                frame = av.AudioFrame.from_ndarray(pcm[None, i : i + 1024], format="s16", layout="mono")
                frame.sample_rate, frame.pts = RATE, i
                dst.mux(ast.encode(frame))
        for stream in (vs, ast):
            if stream is not None:
                dst.mux(stream.encode())  # flush
    return buf.getvalue()


def _row(text: str) -> Maker:
    """A catalogue row: appended to catalogue.csv, named `catalogue.csv:LINE` by the CLI."""

    def make(folder: Path, name: str) -> str:
        path = folder / CATALOGUE
        if not path.exists():
            path.write_text(CATALOGUE_HEADER)
        before = path.read_text()
        path.write_text(before + text + "\n")
        return f"{CATALOGUE}:{before.count(chr(10)) + 1}"

    return make


TEXT = _file(lambda: b"this is a text file, whatever its name says\n" * 20)
EMPTY = _file(lambda: b"")


@dataclass(frozen=True)
class Bad:
    command: str  # mmsearch index COMMAND
    name: str  # file name (catalogue rows: a label for the test id)
    make: Maker
    reason: str  # a fragment of the reason the CLI gives

    def __str__(self) -> str:
        return f"{self.command}-{self.name}"


BAD_INPUTS = [
    Bad("images", "truncated.jpg", _file(lambda: _truncated("JPEG")), "corrupt or truncated image"),
    Bad("images", "corrupt.jpg", _file(_corrupt_jpeg), "corrupt or truncated image"),
    Bad("images", "truncated.png", _file(lambda: _truncated("PNG")), "corrupt or truncated image"),
    Bad("images", "corrupt.png", _file(_corrupt_png), "corrupt or truncated image"),
    Bad("images", "truncated.webp", _file(lambda: _truncated("WEBP")), "corrupt or truncated image"),
    Bad("images", "corrupt.webp", _file(_corrupt_webp), "corrupt or truncated image"),
    Bad("images", "bomb.png", _file(lambda: png_header_bytes(50_000, 50_000)), "image too large"),
    Bad("images", "zero-bytes.jpg", EMPTY, "empty file"),
    Bad("images", "text.jpg", TEXT, "not an image (unrecognised format)"),
    Bad("audio", "zero-bytes.wav", EMPTY, "empty file"),
    Bad("audio", "text.wav", TEXT, "not an audio file (unrecognised format)"),
    Bad("audio", "no-samples.wav", _file(lambda: _wav(np.zeros(0))), "no audio samples (zero length)"),
    Bad("audio", "all-nan.wav", _file(lambda: _wav(np.full(RATE, np.nan), "FLOAT")), "no valid samples (all NaN or infinite)"),
    Bad("audio", "silence.wav", _file(lambda: _wav(np.zeros(2 * RATE))), "silence only"),
    Bad("video", "zero-bytes.mp4", EMPTY, "empty file"),
    Bad("video", "text.mp4", TEXT, "not a readable video"),
    Bad("video", "sound-only.mp4", _file(lambda: _mp4(video=False)), "no video stream in the file"),
    Bad("video", "zero-frames.mp4", _file(lambda: _mp4(seconds=0, audio=False)), "no video stream in the file"),
    Bad("video", "truncated.mp4", _file(lambda: _mp4()[:3000]), "not a readable video"),
    Bad("docs", "zero-bytes.txt", EMPTY, "empty file"),
    Bad("docs", "scanned.pdf", _file(lambda: make_pdf([" ", " "])), "has no text (a scanned PDF?"),
    Bad("docs", "text.pdf", TEXT, "is not a readable PDF"),
    Bad("docs", "unknown-encoding.txt", _file(lambda: bytes(range(0x80, 0x100)) * 4), "is not UTF-8 and its text encoding could not be detected"),
    Bad("docs", "binary.txt", _file(lambda: bytes(range(256)) * 4), "looks like a binary file"),
    Bad("catalogue", "missing-cells", _row("C1,Short row,5"), "missing image"),
    Bad("catalogue", "missing-price", _row("C2,No price,,EUR,x,img/p0.png"), "missing price"),
    Bad("catalogue", "price-words", _row("C3,Words,twelve,EUR,x,img/p0.png"), "price is not a number: 'twelve'"),
    Bad("catalogue", "price-negative", _row("C4,Negative,-3,EUR,x,img/p0.png"), "negative price: '-3'"),
    Bad("catalogue", "price-comma", _row('C5,Comma,"12,50",EUR,x,img/p0.png'), "price is not a number: '12,50'"),
    Bad("catalogue", "price-currency", _row("C6,Euro sign,€12,EUR,x,img/p0.png"), "price is not a number: '€12'"),
    Bad("catalogue", "price-nan", _row("C7,NaN,nan,EUR,x,img/p0.png"), "price is not a number: 'nan'"),
    Bad("catalogue", "price-huge", _row("C8,Huge,1e400,EUR,x,img/p0.png"), "price is not a finite number"),
    Bad("catalogue", "duplicate-id", _row("P0,Again,5,EUR,x,img/p1.png"), "duplicate id 'P0' (first on line 2)"),
    Bad("catalogue", "escapes-folder", _row("C9,Passwd,5,EUR,x,../../etc/passwd"), "image path escapes the catalogue's folder"),
    Bad("catalogue", "absolute-path", _row("C10,Absolute,5,EUR,x,/etc/passwd"), "image path escapes the catalogue's folder"),
    Bad("catalogue", "image-missing", _row("C11,Gone,5,EUR,x,img/nope.png"), "image not found"),
    Bad("catalogue", "image-is-text", _row("C12,Text,5,EUR,x,notes.jpg"), "not an image"),
    Bad("catalogue", "extra-cells", _row("C13,Too many,5,EUR,x,img/p0.png,surplus"), "7 fields but the header has 6"),
]


# -- good inputs of each command, and what they leave in the store -------------------------
def _good_images(folder: Path) -> set[str]:
    (folder / "photo.jpg").write_bytes(jpeg_bytes(noise=True))
    (folder / "photo.png").write_bytes(_image("PNG"))
    (folder / "photo.webp").write_bytes(_image("WEBP"))
    return {"photo.jpg", "photo.png", "photo.webp"}


def _good_audio(folder: Path) -> set[str]:
    (folder / "noise.wav").write_bytes(_wav(_noise(1.5, seed=1)))
    partly = _noise(2.0, seed=2)
    partly[: RATE // 2] = np.nan  # 8000 NaNs set to 0, with a warning; the rest indexed
    (folder / "partly-nan.wav").write_bytes(_wav(partly, "FLOAT"))
    return {"noise.wav", "partly-nan.wav"}


def _good_video(folder: Path) -> set[str]:
    (folder / "talk.mp4").write_bytes(_mp4())
    (folder / "silent-film.mp4").write_bytes(_mp4(audio=False))  # no audio stream: indexed by its frames
    return {"talk.mp4", "silent-film.mp4"}


def _good_docs(folder: Path) -> set[str]:
    (folder / "guide.md").write_text(MARKDOWN)
    (folder / "latin1.txt").write_bytes(("Grüße aus München, schöne Äpfel und süße Birnen. " * 20).encode("latin-1"))
    return {"guide.md", "latin1.txt"}


def _good_catalogue(folder: Path) -> set[str]:
    from PIL import Image

    (folder / "img").mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (60 * i, 90, 200 - 50 * i)).save(folder / "img" / f"p{i}.png")
    (folder / "notes.jpg").write_text("not an image")
    (folder / CATALOGUE).write_text(CATALOGUE_HEADER + "".join(f"P{i},Item {i},{10 + i}.50,EUR,x,img/p{i}.png\n" for i in range(3)))
    return {"P0", "P1", "P2"}


# Good files indexed with a caveat: named on one warning line (file → what the line says).
CAVEATS = {"audio": {"partly-nan.wav": "8000 NaN/infinite samples set to 0"}}
GOOD = {"images": _good_images, "audio": _good_audio, "video": _good_video, "docs": _good_docs, "catalogue": _good_catalogue}
COLLECTION_KIND = {"images": "image", "audio": "audio", "video": "video", "docs": "doc", "catalogue": "product"}


def _stored_names(db: str, command: str) -> set[str]:
    """What the good inputs left in the store: file names (catalogue: product ids)."""
    rows = stored_rows(db, COLLECTION_KIND[command])
    if command == "catalogue":
        return {r["id"] for r in rows}
    return {Path(r["source"]).name for r in rows}


def _lines_naming(stderr: str, label: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"{label}: " in line]


@pytest.mark.parametrize("command", list(GOOD))
def test_bad_inputs_are_skipped_one_line_each_and_good_ones_indexed(command: str, tmp_path: Path) -> None:
    folder = tmp_path / command
    folder.mkdir()
    good = GOOD[command](folder)
    bad = {b.make(folder, b.name): b for b in BAD_INPUTS if b.command == command}
    db = str(tmp_path / "t.db")
    target = str(folder / CATALOGUE) if command == "catalogue" else str(folder)

    proc = run("index", command, target, "--db", db, "--profile", "offline", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for label, b in bad.items():
        lines = _lines_naming(proc.stderr, label)
        assert len(lines) == 1, f"{b}: expected one line naming {label}, got {lines}\n{proc.stderr}"
        assert b.reason in lines[0], f"{b}: {lines[0]!r} does not give the reason {b.reason!r}"
    for name, note in CAVEATS.get(command, {}).items():
        (line,) = _lines_naming(proc.stderr, str((folder / name).resolve()))
        assert note in line and line.startswith("WARNING"), line
    summary = f"{command}: {len(good)} indexed, 0 unchanged, {len(bad)} skipped"
    assert summary in proc.stderr, proc.stderr
    assert _stored_names(db, command) == good

    # Bad inputs are never stored, so a second run names them again and redoes nothing.
    again = run("index", command, target, "--db", db, "--profile", "offline", "-q", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["indexed"], report["unchanged"]) == (0, len(good))
    assert {s["path"]: s["reason"] for s in report["skipped"]}.keys() == bad.keys()
    assert _stored_names(db, command) == good


def test_the_table_covers_every_command_and_kind_of_bad_input() -> None:
    """The list above is the checklist of the reliability issue: keep every entry in it."""
    commands = {b.command for b in BAD_INPUTS}
    assert commands == set(GOOD)
    names = " ".join(b.name for b in BAD_INPUTS)
    for kind in ("truncated.jpg", "corrupt.jpg", "truncated.png", "corrupt.png", "truncated.webp", "corrupt.webp",
                 "bomb.png", "zero-bytes", "text.jpg", "text.mp4", "text.wav", "no-samples.wav", "all-nan.wav",
                 "sound-only.mp4", "scanned.pdf", "unknown-encoding.txt", "missing-cells", "price-", "duplicate-id",
                 "escapes-folder"):
        assert kind in names, kind
    assert len(png_header_bytes(50_000, 50_000)) < 200  # the bomb claims 2.5 G pixels in a few bytes


def test_a_video_without_sound_is_indexed_by_its_frames_only(tmp_path: Path) -> None:
    """The other half of "a video with no frames or no audio": no audio is not an error."""
    folder = tmp_path / "video"
    folder.mkdir()
    _good_video(folder)
    db = str(tmp_path / "t.db")
    proc = run("index", "video", str(folder), "--db", db, "--profile", "offline", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "video: 2 indexed, 0 unchanged, 0 skipped" in proc.stderr
    frames = stored_rows(db, "video")
    assert {Path(r["source"]).name for r in frames} == {"talk.mp4", "silent-film.mp4"}
    assert {r["meta"]["has_audio"] for r in frames if r["source"].endswith("silent-film.mp4")} == {False}
    speech = [r for r in stored_rows(db, "doc") if r["kind"] == "segment"]
    assert {Path(r["source"]).name for r in speech} == {"talk.mp4"}  # only the video with sound was transcribed


def test_only_bad_inputs_exit_1_and_still_name_each(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    labels = {b.make(folder, b.name): b for b in BAD_INPUTS if b.command == "images"}
    proc = run("index", "images", str(folder), "--db", str(tmp_path / "t.db"), "--profile", "offline", "-q")
    assert proc.returncode == 1  # README: 0 only when something was indexed
    assert f"images: 0 indexed, 0 unchanged, {len(labels)} skipped" in proc.stderr
    for label, b in labels.items():
        assert len(_lines_naming(proc.stderr, label)) == 1, b
    assert "Traceback" not in proc.stderr


def test_a_catalogue_without_its_required_columns_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / CATALOGUE
    path.write_text("name,cost\nshirt,12.50\n")
    proc = run("index", "catalogue", str(path), "--db", str(tmp_path / "t.db"), "--profile", "offline", "-q")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "mmsearch: error: the catalogue has no id, price, image column(s); its header is: name, cost"
    assert "Traceback" not in proc.stderr
