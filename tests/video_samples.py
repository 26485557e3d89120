"""Test videos built at test time from Debian packages (opencv-doc, pocketsphinx-testdata)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.eval.speech import LIBRIVOX_DIR as LIBRIVOX

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CLIP_0880 = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"  # "he was not an ill disposed young man"
CLIP_0920 = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0920.wav"  # "had he married a more amiable woman …"


def make_video(
    out: Path,
    seconds: float = 20.0,
    speech: list[tuple[float, Path]] | None = None,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
) -> Path:
    """An mp4 (H.264 + AAC) of the first `seconds` of vtest.avi, with each speech clip placed
    at its offset on an otherwise silent track; no audio stream when `speech` is None."""
    import av

    from indexers.audio_io import decode_audio

    rate = 16000
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(VTEST)) as src, av.open(str(out), "w") as dst:
        vs = dst.add_stream("libx264", rate=fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast"}
        as_ = None
        if speech is not None:
            track = np.zeros(int(seconds * rate), dtype=np.float32)
            for offset, clip in speech:
                x = decode_audio(clip, target_rate=rate).samples
                a = int(offset * rate)
                x = x[: max(0, track.size - a)]
                track[a : a + x.size] += x
            as_ = dst.add_stream("aac", rate=rate)
            as_.layout = "mono"
        n = 0
        for frame in src.decode(video=0):
            if n >= seconds * fps:
                break
            img = frame.to_image().resize(size)
            vf = av.VideoFrame.from_image(img)
            vf.pts = n
            for pkt in vs.encode(vf):
                dst.mux(pkt)
            n += 1
        for pkt in vs.encode():
            dst.mux(pkt)
        if as_ is not None:
            pcm = (np.clip(track, -1, 1) * 32767).astype(np.int16)
            step = 1024
            for i in range(0, pcm.size, step):
                af = av.AudioFrame.from_ndarray(pcm[None, i : i + step], format="s16", layout="mono")
                af.sample_rate = rate
                af.pts = i
                for pkt in as_.encode(af):
                    dst.mux(pkt)
            for pkt in as_.encode():
                dst.mux(pkt)
    return out
