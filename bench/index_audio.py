"""Audio indexing throughput: seconds of audio indexed per second of wall time, end to end
vs the encoder's own batched forward pass on the same windows.

    python -m bench.index_audio [--minutes 8 | --n 8] [--encoder aisfx|panns:Cnn14/random] [--device cpu|cuda]

Two libraries:
- long files: N one-minute FLAC/OGG recordings (freedesktop sounds scattered over quiet noise),
  cut into 10 s windows every 5 s;
- short clips: Debian's freedesktop sounds (0.06–6 s each), where the start-offset copies
  of each clip's first window (aiSFX: 6 per clip) dominate the work.

- end to end: `indexers.audio.index_audio` (hash, decode + resample on worker threads,
  window, embed in batches, upsert into Milvus Lite).
- decode only: decode + mono mix + one resample to the model's rate, one file at a time.
- forward only: the encoder's `embed_documents` on the already-cut windows the indexer
  embeds (same count, same lengths): the ceiling the indexer can reach.
Model load time is excluded (the encoder is warmed up first).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

from bench.common import fresh_dir, markdown_table, timer, write_result

SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")


def make_long_files(dest: Path, n: int, seconds: float = 60.0) -> list[Path]:
    """N recordings of `seconds`: quiet noise with freedesktop sounds every few seconds."""
    import numpy as np
    import soundfile as sf

    from indexers.audio_io import decode_audio

    rate = 44100
    pool = [decode_audio(p, target_rate=rate).samples for p in sorted({p.resolve() for p in SOUNDS.glob("*.oga")})]
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        x = (rng.standard_normal(int(seconds * rate)) * 10 ** (-45 / 20)).astype(np.float32)
        t = 0.5
        while t < seconds - 1:
            clip = pool[int(rng.integers(len(pool)))]
            a = int(t * rate)
            b = min(x.size, a + clip.size)
            x[a:b] += clip[: b - a] * float(rng.uniform(0.3, 1.0))
            t += float(rng.uniform(1.5, 6.0))
        ext = ".flac" if i % 2 == 0 else ".ogg"
        path = dest / f"rec_{i:03d}{ext}"
        kwargs = {"format": "OGG", "subtype": "VORBIS"} if ext == ".ogg" else {}
        # libsndfile's Vorbis encoder can crash on one large write: write one second at a time
        with sf.SoundFile(path, "w", samplerate=rate, channels=1, **kwargs) as f:
            for a in range(0, x.size, rate):
                f.write(np.clip(x[a : a + rate], -1, 1))
        out.append(path)
    return out


def copy_short_clips(dest: Path) -> list[Path]:
    out = []
    for p in sorted({p.resolve() for p in SOUNDS.glob("*.oga")}):
        shutil.copy(p, dest / p.name)
        out.append(dest / p.name)
    return out


def measure(files: list[Path], folder: Path, enc, db: Path, window_s: float, hop_s: float, repeats: int) -> dict[str, float]:
    """Seconds of audio per wall second: decode only, forward only, end to end (best of
    `repeats`, alternating forward and end to end, so that other load on the machine
    penalises neither more than the other)."""
    from indexers.audio import (
        index_audio,
        prepare,
        sample_rate_of,
        segments_for,
        start_offsets_of,
    )
    from indexers.files import file_digest
    from milvus import VectorStore
    from milvus.client import close

    rate = sample_rate_of(enc)
    t_decode, t_forward, t_e2e = [], [], []
    for r in range(repeats):
        with timer() as t:
            works = [prepare(p, file_digest(p), [rate], window_s, hop_s) for p in files]
        t_decode += t
        clips = [w.clip(seg, rate) for w in works for seg in segments_for(w, start_offsets_of(enc))]
        with timer() as t:
            enc.embed_documents(clips)
        t_forward += t
        store = VectorStore(str(db.with_suffix(f".{r}.db")))
        with timer() as t:
            report = index_audio([folder], store, [enc], window_s=window_s, hop_s=hop_s, progress=False)
        t_e2e += t
        assert report.indexed == len(files) and not report.failed, report.summary()
        close(store.uri)
    audio_s = sum(w.audio.duration_s for w in works)
    return {
        "audio_s": audio_s,
        "clips": len(clips),
        "decode": audio_s / min(t_decode),
        "forward": audio_s / min(t_forward),
        "e2e": audio_s / min(t_e2e),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", "--n", type=int, default=8, help="minutes of long recordings (one file per minute; default 8)")
    ap.add_argument("--encoder", default="aisfx")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the encoder's preferred size for the device")
    ap.add_argument("--repeats", type=int, default=2, help="runs per measurement; the best counts (default 2)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not SOUNDS.is_dir():
        raise SystemExit(f"{SOUNDS} is missing: run `make sysdeps` (apt-get install sound-theme-freedesktop)")

    import numpy as np

    from encoders import get_encoder
    from indexers.audio import DEFAULT_HOP_S, DEFAULT_WINDOW_S, sample_rate_of

    enc = get_encoder(args.encoder, args.device, args.batch_size)
    args.batch_size = enc.batch_size
    rate = sample_rate_of(enc)
    enc.embed_documents([np.zeros(rate * 2, dtype=np.float32) + 0.01])  # load + warm up

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        libraries = {
            f"long files ({args.minutes} × 60 s)": lambda d: make_long_files(d, args.minutes),
            "short clips (freedesktop, 27)": copy_short_clips,
        }
        for i, (name, make) in enumerate(libraries.items()):
            folder = fresh_dir(root / f"lib{i}")
            files = make(folder)
            r = measure(files, folder, enc, root / f"lib{i}", DEFAULT_WINDOW_S, DEFAULT_HOP_S, args.repeats)
            rows.append([
                name, f"{r['audio_s']:.0f}", str(r["clips"]), f"{r['e2e']:.1f}", f"{r['forward']:.1f}",
                f"{r['e2e'] / r['forward']:.2f}×", f"{r['decode']:.0f}",
            ])
    table = markdown_table(
        ["library", "audio s", "clips embedded", "end to end (audio s / s)", "forward only (audio s / s)", "e2e vs forward", "decode only (audio s / s)"],
        rows,
    )
    write_result(
        "index_audio",
        "Audio indexing throughput",
        f"encoder={args.encoder}, device={args.device}, batch={args.batch_size}, window={DEFAULT_WINDOW_S:g} s, "
        f"hop={DEFAULT_HOP_S:g} s, best of {args.repeats}",
        table,
        notes=(
            "Seconds of audio indexed per second of wall time (higher is better; 60 = one hour of audio per minute). "
            "Forward only runs the encoder alone on exactly the windows (and start-offset copies) the indexer embeds; "
            "end to end adds hashing, decoding, resampling, windowing and Milvus Lite upserts, with decoding on worker threads. "
            "Best of several alternating runs: the machine is shared, so single runs are noisy."
        ),
        pkgs=("torch", "soundfile", "soxr", "av"),
    )


if __name__ == "__main__":
    main()
