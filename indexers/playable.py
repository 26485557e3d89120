"""Browser-playable copies of indexed videos and sounds.

A browser plays only some containers and codecs: MP4 with H.264/AV1/VP9 and AAC/MP3/Opus,
WebM with VP8/VP9/AV1 and Vorbis/Opus, and for sounds WAV (PCM), FLAC, Ogg, MP3 and AAC.
Anything else the indexers accept (AVI, most MOV and MKV files, MPEG-4 Part 2, AIFF, …) is
converted once with PyAV to H.264 + AAC in MP4 (or AAC in M4A for sounds), keeping every
timestamp, and cached in the thumbnail folder (`playable/`), so a hit's time still points
at the same moment. `playable(path, store_uri)` returns the file to send and its MIME type,
or raises `NotPlayable` with one sentence saying why.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)

#: Longest source converted on demand (a page waits for it).
MAX_CONVERT_SECONDS = 2 * 3600.0
CACHE_FOLDER = "playable"

_MP4_FAMILY = "mp4"  # PyAV names the MP4/MOV demuxer "mov,mp4,m4a,3gp,3g2,mj2"
_BROWSER_VIDEO = {
    "mp4": ({"h264", "av1", "vp9"}, {"aac", "mp3", "opus"}, "video/mp4"),
    "webm": ({"vp8", "vp9", "av1"}, {"vorbis", "opus"}, "video/webm"),
}
_BROWSER_PIX_FMTS = {"yuv420p", "yuvj420p", None}
_BROWSER_AUDIO = {  # container family -> (codecs, MIME type)
    "wav": ({"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"}, "audio/wav"),
    "flac": ({"flac"}, "audio/flac"),
    "ogg": ({"vorbis", "opus", "flac"}, "audio/ogg"),
    "mp3": ({"mp3"}, "audio/mpeg"),
    "mp4": ({"aac", "mp3", "opus"}, "audio/mp4"),
    "aac": ({"aac"}, "audio/aac"),
    "webm": ({"vorbis", "opus"}, "audio/webm"),
}


class NotPlayable(Exception):
    """A file a browser cannot play and that could not be converted; the message says why."""


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds, as far as a browser cares."""

    container: str  # a family: mp4, webm, wav, flac, ogg, mp3, aac, avi, aiff, …
    video_codec: str | None
    pix_fmt: str | None
    audio_codec: str | None
    duration_s: float


@dataclass(frozen=True)
class Playable:
    """The file to send to the browser and its MIME type."""

    path: Path
    mimetype: str
    converted: bool = False


def _family(format_name: str, suffix: str) -> str:
    names = set(format_name.split(","))
    if "mp4" in names or "mov" in names:
        return _MP4_FAMILY
    if "matroska" in names or "webm" in names:
        # PyAV names one demuxer for both: only a .webm file is served as WebM
        return "webm" if suffix == ".webm" else "matroska"
    return format_name.split(",")[0]


def probe(path: str | Path) -> MediaInfo:
    """The container and codecs of a media file; raises NotPlayable when PyAV cannot read it."""
    import av

    p = Path(path)
    try:
        container = av.open(str(p))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise NotPlayable(f"{p.name} is not a readable media file") from exc
    with container:
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        if v is not None and v.disposition and "attached_pic" in str(v.disposition).lower():
            v = None  # cover art of a sound file
        duration = container.duration / 1_000_000 if container.duration else 0.0
        return MediaInfo(
            _family(container.format.name, p.suffix.lower()),
            v.codec_context.name if v is not None else None,
            (v.codec_context.pix_fmt if v is not None else None),
            a.codec_context.name if a is not None else None,
            float(duration),
        )


def browser_mimetype(info: MediaInfo) -> str | None:
    """The MIME type to serve the file as when a browser plays it as it is, else None."""
    if info.video_codec is not None:
        rule = _BROWSER_VIDEO.get(info.container)
        if rule is None:
            return None
        videos, audios, mime = rule
        if info.video_codec not in videos or info.pix_fmt not in _BROWSER_PIX_FMTS:
            return None
        if info.audio_codec is not None and info.audio_codec not in audios:
            return None
        return mime
    arule = _BROWSER_AUDIO.get(info.container)
    if arule is None or info.audio_codec not in arule[0]:
        return None
    return arule[1]


def cache_dir(store_uri: str) -> Path:
    """Where converted copies of a store's media live (beside its thumbnails)."""
    from indexers.thumbs import thumbs_dir

    return thumbs_dir(store_uri) / CACHE_FOLDER


def cached_copy_path(source: Path, folder: Path, audio_only: bool) -> Path:
    """The converted copy's path: a hash of the source's path, size and modification time."""
    st = source.stat()
    key = hashlib.sha1(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]
    return folder / key[:2] / f"{key}{'.m4a' if audio_only else '.mp4'}"


def playable(path: str | Path, store_uri: str, folder: Path | None = None) -> Playable:
    """The original when a browser plays it, else a converted copy (made now, then cached)."""
    src = Path(path)
    if not src.is_file():
        raise NotPlayable(f"{src.name} is not there any more")
    info = probe(src)
    mime = browser_mimetype(info)
    if mime is not None:
        return Playable(src, mime)
    if info.video_codec is None and info.audio_codec is None:
        raise NotPlayable(f"{src.name} holds neither pictures nor sound")
    audio_only = info.video_codec is None
    dest = cached_copy_path(src, folder or cache_dir(store_uri), audio_only)
    mime = "audio/mp4" if audio_only else "video/mp4"
    if dest.is_file() and dest.stat().st_size > 0:
        return Playable(dest, mime, converted=True)
    if info.duration_s > MAX_CONVERT_SECONDS:
        raise NotPlayable(
            f"{src.name} is in a format browsers do not play ({info.container}, {info.video_codec or info.audio_codec}) "
            f"and is too long to convert here"
        )
    convert(src, dest, audio_only=audio_only)
    return Playable(dest, mime, converted=True)


def convert(src: Path, dest: Path, audio_only: bool = False) -> None:
    """Transcode to H.264 + AAC in MP4 (AAC in M4A for sounds), timestamps kept; atomic."""
    import av

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.part{dest.suffix}")
    try:
        _transcode(src, tmp, audio_only)
        os.replace(tmp, dest)
    except (av.FFmpegError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        log.info("cannot convert %s for the browser: %s", src, exc)
        raise NotPlayable(f"{src.name} is in a format browsers do not play, and converting it failed") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("converted %s for the browser: %s", src, dest)


def _transcode(src: Path, dest: Path, audio_only: bool) -> None:
    import av

    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vin = None if audio_only or not inp.streams.video else inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = aout = resampler = None
        if vin is not None:
            rate = vin.average_rate or vin.guessed_rate or Fraction(25)
            vout = out.add_stream("libx264", rate=rate)
            vout.width = max(2, vin.codec_context.width // 2 * 2)
            vout.height = max(2, vin.codec_context.height // 2 * 2)
            vout.pix_fmt = "yuv420p"
            vout.time_base = vin.time_base
            vout.options = {"preset": "veryfast", "crf": "23"}
        if ain is not None:
            arate = ain.codec_context.sample_rate or 44100
            layout = "mono" if (ain.codec_context.channels or 1) == 1 else "stereo"
            aout = out.add_stream("aac", rate=arate)
            aout.layout = layout
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=arate)
        streams = [s for s in (vin, ain) if s is not None]
        for packet in inp.demux(*streams):
            for frame in _decode(packet):
                if packet.stream is vin and vout is not None:
                    if frame.pts is None:
                        continue
                    img = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
                    img.pts, img.time_base = frame.pts, frame.time_base
                    out.mux(vout.encode(img))
                elif packet.stream is ain and aout is not None and resampler is not None:
                    for piece in resampler.resample(frame):
                        out.mux(aout.encode(piece))
        if vout is not None:
            out.mux(vout.encode(None))
        if aout is not None and resampler is not None:
            for piece in resampler.resample(None):
                out.mux(aout.encode(piece))
            out.mux(aout.encode(None))


def _decode(packet):
    """A packet's frames; a corrupt packet is skipped, not fatal."""
    import av

    try:
        return packet.decode()
    except av.InvalidDataError as exc:
        log.debug("skipping a corrupt packet: %s", exc)
        return []
