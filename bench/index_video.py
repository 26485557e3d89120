"""Video indexing throughput: media seconds indexed per wall second, split into decode,
frame embedding and transcription.

    python -m bench.index_video [--n 1] [--seconds 60] [--fps 1] [--profile offline] [--device cpu|cuda]

The test video is opencv-doc's vtest.avi (768×576, 10 fps, re-encoded to H.264) with
LibriVox speech (pocketsphinx-testdata) placed along an AAC track. Models are loaded and
warmed up first; model load time is excluded. Decoding runs on a worker thread while the
model embeds, so the parts can add up to more than the wall time.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from bench.common import markdown_table, timer, write_result


def make_bench_video(dest: Path, seconds: float, variant: int = 0) -> Path:
    """The test video; each `variant` places the speech clips in another order (another file)."""
    from tests.video_samples import LIBRIVOX, make_video

    clips = sorted(LIBRIVOX.glob("*.wav"))
    speech = [(t, clips[(i + variant) % len(clips)]) for i, t in enumerate(range(2, int(seconds) - 8, 10))]
    return make_video(dest, seconds=seconds, speech=speech, fps=10, size=(768, 576))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1, help="test videos to index (default 1; each differs in its speech)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each test video (default 60, at most 79)")
    ap.add_argument("--fps", type=float, default=1.0, help="frames sampled per second of media (default 1)")
    ap.add_argument("--profile", default="offline")
    ap.add_argument("--transcriber", default=None, help="default faster-whisper:tiny.en")
    ap.add_argument("--compare", default="faster-whisper:base,openai-whisper:tiny.en",
                    help="more transcribers timed on the same audio track, side by side (skipped, with the reason, when their weights are missing)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import numpy as np
    from PIL import Image

    from encoders import get_encoder
    from encoders.profiles import resolve_profile
    from encoders.transcribe import get_transcriber
    from indexers.text_encoder import resolve_text_encoder_id
    from indexers.video import VideoStats, index_video
    from milvus import VectorStore
    from milvus.client import close

    profile, _ = resolve_profile(args.profile, args.device)
    encoders = [get_encoder(e, args.device) for e in profile.image_encoders]
    transcriber = get_transcriber(args.transcriber, args.device)
    text_enc = get_encoder(resolve_text_encoder_id(None)[0], args.device)
    warm = [Image.new("RGB", (320, 240), (120, 130, 140))] * 2
    for enc in encoders:
        enc.embed_documents(warm)
    transcriber.transcribe(np.zeros(16000, dtype=np.float32))
    text_enc.embed_documents(["warm up"])

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        videos = [make_bench_video(root / "videos" / f"bench{i}.mp4", min(args.seconds, 79.0), i) for i in range(max(1, args.n))]
        video = videos[0]
        stats = VideoStats()
        store = VectorStore(str(root / "v.db"))
        with timer() as wall:
            report = index_video(videos, store, encoders, transcriber=transcriber, text_encoder=text_enc, fps=args.fps, progress=False, stats=stats)
        assert report.indexed == len(videos), report.summary()
        one_video_s = stats.media_s / len(videos)
        close(store.uri)

        compare_rows = []
        for tid in [t for t in args.compare.split(",") if t.strip()]:
            other = get_transcriber(tid.strip(), args.device)
            if not other.weights_available():
                compare_rows.append([f"transcribe with {other.id}", "—", "—", "weights not on this machine: not measured"])
                continue
            from indexers.speech import transcribe_track

            transcribe_track(video, other)  # load + warm up
            with timer() as t_other:
                lines = transcribe_track(video, other)
            compare_rows.append([f"transcribe with {other.id}", f"{t_other[0]:.1f}", f"{one_video_s / t_other[0]:.1f}", f"{len(lines)} lines of the first video"])

        frames_only = VideoStats()
        store2 = VectorStore(str(root / "f.db"))
        with timer() as wall_frames:
            index_video(videos, store2, encoders, transcriber=None, fps=args.fps, progress=False, stats=frames_only)
        close(store2.uri)

    media = stats.media_s

    def rate(sec: float) -> str:
        return f"{media / sec:.1f}" if sec > 0 else "—"

    rows = [
        ["end to end (frames + speech)", f"{wall[0]:.1f}", rate(wall[0]), f"{stats.frames} frames, {stats.segments} lines"],
        ["end to end, frames only (--no-speech)", f"{wall_frames[0]:.1f}", rate(wall_frames[0]), f"{frames_only.frames} frames"],
        ["decode + scale frames (PyAV, worker thread)", f"{stats.decode_s:.1f}", rate(stats.decode_s), "overlaps the embedding"],
        ["frame embed + thumbnails + upsert", f"{stats.embed_s:.1f}", rate(stats.embed_s), ", ".join(e.spec.id for e in encoders)],
        ["transcribe (audio decode + Whisper)", f"{stats.transcribe_s:.1f}", rate(stats.transcribe_s), transcriber.id],
        ["transcript lines embed + upsert", f"{stats.segment_store_s:.1f}", rate(stats.segment_store_s), text_enc.spec.id],
        *compare_rows,
    ]
    table = markdown_table(["part", "seconds", "media s / s", "notes"], rows)
    write_result(
        "index_video",
        "Video indexing throughput",
        f"{len(videos)} × video {one_video_s:.0f} s 768×576 H.264+AAC ({media:.0f} s in all), fps={args.fps:g}, profile={profile.name}, device={args.device}",
        table,
        notes="Model load and warm-up are excluded. Decoding runs on a worker thread in parallel with the embedding.",
        pkgs=("torch", "timm", "av", "faster-whisper", "ctranslate2"),
    )


if __name__ == "__main__":
    main()
