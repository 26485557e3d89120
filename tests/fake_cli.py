"""`python -m tests.fake_cli ARGS...`: the real `mmsearch` command line (`app.cli.main`) in a
process of its own, with the models replaced by test doubles so it starts in a second or two.

Like the `fake_profile` fixture of tests/conftest.py, every profile (full, offline, auto) is
made of the `fake:16` encoder, for images, text and sound alike; transcripts come from
`FakeTranscriber` (one fixed line for any audio with sound in it). Everything else (argument
parsing, indexers, Milvus Lite, error messages, exit codes) is the product's own code.
Integration tests run it with `subprocess` where the process itself matters: its exit code,
its stderr, resource limits, or a Milvus Lite server of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

FAKE_ENCODER = "fake:16"
REPO = Path(__file__).resolve().parents[1]


class FakeTranscriber:
    """Says one fixed line, from 0.5 s to 1.5 s, for any audio it is given."""

    id = "fake:transcriber"

    def transcribe(self, audio: Any, language: str | None = None) -> Any:
        from encoders.transcribe import Transcript, TranscriptSegment

        return Transcript([TranscriptSegment(0.5, 1.5, "a fake line of speech")], "en", audio.size / 16000)


FAKE_PROFILE_FIELDS = dict(
    image_encoders=(FAKE_ENCODER,),
    text_to_image=FAKE_ENCODER,
    image_to_image=FAKE_ENCODER,
    text=FAKE_ENCODER,
    note="fake encoders (tests)",
    audio=FAKE_ENCODER,
)


def fake_context(settings: Any) -> Any:
    """The real `Context` with the test doubles handed in: the fake profile (named as asked:
    full, or offline for auto), `fake:16` as the text encoder, and `FakeTranscriber`."""
    from app.context import Context
    from encoders.profiles import Profile

    class FakeContext(Context):
        def transcriber(self, transcriber_id: str | None = None) -> Any:
            return FakeTranscriber()

    name = "full" if settings.profile == "full" else "offline"
    return FakeContext(settings.replace(text_encoder=FAKE_ENCODER), given_profile=Profile(name, **FAKE_PROFILE_FIELDS))


def main(argv: Sequence[str] | None = None) -> int:
    """Run `mmsearch ARGV` with the test doubles in its context; returns its exit code."""
    from app.cli.main import main as mmsearch_main

    return mmsearch_main(argv, context_factory=fake_context)


def run(*args: str, timeout: float = 600, preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    """`mmsearch ARGS` with the fakes, in a child process of the repository's Python; text output.
    The child inherits this process's environment (the test session's MMSEARCH_HOME)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "tests.fake_cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn, check=False,
    )


def stored_rows(db: str, kind: str) -> list[dict[str, Any]]:
    """Every row of the (kind, fake:16) collection of a Milvus Lite file, read after the CLI exited
    ([] when there is no such collection); the file is closed again for the next process."""
    from milvus import VectorStore
    from milvus.client import close

    try:
        coll = VectorStore(db).find(kind, FAKE_ENCODER)
        return [] if coll is None else coll.query(limit=16384)
    finally:
        close(db)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
