"""The objects one process works with, built once from one `Settings`: the store, the model
profile and the search engine. The CLI builds a `Context` per command, the Streamlit app one
per server process; tests build one with the settings (and profile) they need.

Everything is made on first use, so `mmsearch --help` or a bad flag never opens the database
or imports torch.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from app.settings import Settings

log = logging.getLogger(__name__)
#: How long a process trusts the model choices it read from the database before reading them
#: again (a running server sees `mmsearch models use` from another process within this time).
MODELS_TTL_S = 2.0

if TYPE_CHECKING:
    from app.search.engine import SearchEngine
    from encoders.profiles import Profile
    from milvus import VectorStore


def apply_settings(settings: Settings) -> None:
    """Hand the settings to the layers below, which never read the environment themselves."""
    from encoders import services, weights
    from indexers import config
    from milvus import client, servers

    weights.configure(home=settings.home, overrides=settings.weights_overrides, mirror=settings.models_mirror or "")
    key = settings.embed_api_key or settings.llm_api_key
    services.configure(
        ollama_url=settings.ollama_host,
        openai_url=settings.embed_url or settings.llm_url,
        api_key=key.get_secret_value() if key else None,
        batch_size=settings.embed_batch_size,
    )
    client.configure(token=settings.milvus_token.get_secret_value() if settings.milvus_token else None)
    servers.configure(server_venv=settings.milvus_server_venv, lite3_venv=settings.lite3_venv)
    config.configure(
        max_pixels=settings.max_pixels,
        max_audio_seconds=settings.max_audio_seconds,
        thumbs_dir=settings.thumbs,
        calibration_path=settings.calibration,
        failpoint=settings.failpoint,
    )


@dataclass
class Context:
    """Settings plus what they open. `profile` may be given (tests), else it is resolved from
    `settings.profile` and `settings.device`, and `profile_reason` says why."""

    settings: Settings
    given_profile: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        apply_settings(self.settings)

    @cached_property
    def store(self) -> "VectorStore":
        """The vector store at `settings.db` (a Lite `.db` path or a server URI)."""
        from milvus import VectorStore

        return VectorStore(self.settings.db)

    @cached_property
    def _profile_and_reason(self) -> tuple["Profile", str]:
        if self.given_profile is not None:
            return self.given_profile, f"profile {self.given_profile.name} (given)"
        from encoders.profiles import Profile, resolve_profile

        name = self.settings.profile
        if name in self.settings.profiles:
            table = dict(self.settings.profiles[name])
            table["image_encoders"] = tuple(table["image_encoders"])
            where = self.settings.sources().get("profiles", "settings")
            return Profile(name, **table), f"profile {name} (defined in {where.removeprefix('file ')})"

        return resolve_profile(self.settings.profile, self.settings.device)

    @property
    def profile(self) -> "Profile":
        """The model profile (which encoder embeds what), with the model choices recorded in the
        database (`mmsearch models use`) laid over it."""
        return self._models()[0]

    @property
    def profile_reason(self) -> str:
        """One sentence on why this profile (auto picks by the weights on this machine) and which
        recorded choices change it."""
        chosen = self._models()[1]
        from encoders.profiles import FIELD_KINDS

        said = dict.fromkeys(f"{FIELD_KINDS[f]} {e}" for f, e in chosen.items() if f in FIELD_KINDS)
        extra = "; chosen with `mmsearch models use`: " + ", ".join(said) if said else ""
        return self._profile_and_reason[1] + extra

    _models_lock: Any = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _models_read: tuple[float, "Profile | None", dict[str, str]] = field(default=(-1e18, None, {}), init=False, repr=False, compare=False)

    def _models(self) -> tuple["Profile", dict[str, str]]:
        """The effective profile and the recorded choices, read again after MODELS_TTL_S."""
        read_at, profile, chosen = self._models_read
        if profile is None or time.monotonic() - read_at >= MODELS_TTL_S:
            return self.refresh_models()
        return profile, chosen

    def refresh_models(self) -> tuple["Profile", dict[str, str]]:
        """Read the recorded model choices now and lay them over the profile; the engine (if
        built) switches to the result in place, so whoever holds it sees the new models."""
        from encoders.profiles import apply_choices
        from indexers.model_record import read_choices

        with self._models_lock:
            try:
                chosen = read_choices(self.store).active
            except Exception as exc:  # e.g. a Lite file a server holds: the profile alone still works
                log.debug("model choices not read: %s", exc)
                chosen = dict(self._models_read[2])
            profile = apply_choices(self._profile_and_reason[0], chosen)
            self._models_read = (time.monotonic(), profile, chosen)
            engine = self.__dict__.get("_engine")
            if engine is not None and engine.profile != profile:
                engine.profile = profile
            return profile, chosen

    @property
    def device(self) -> str:
        """auto, cpu, cuda or mps."""
        return self.settings.device

    def text_encoder_choice(self, explicit: str | None = None) -> tuple[str, str]:
        """The encoder of documents and transcripts, and why (`indexers.text_encoder`; no profile needed)."""
        from indexers.text_encoder import resolve_text_encoder_id

        return resolve_text_encoder_id(explicit, self.store, self.device, self.settings.text_encoder)

    def transcriber(self, transcriber_id: str | None = None) -> Any:
        """The speech-to-text model: `transcriber_id`, else the settings' (MMSEARCH_TRANSCRIBER)."""
        from encoders.transcribe import get_transcriber

        return get_transcriber(transcriber_id or self.settings.transcriber, self.device, tuple(self.settings.speech_languages))

    @property
    def engine(self) -> "SearchEngine":
        """The search engine over the store with the profile's models: one per context, kept in
        step with the recorded model choices (read again after MODELS_TTL_S)."""
        profile = self.profile  # a changed choice switches the engine's profile in place
        engine = self.__dict__.get("_engine")
        if engine is None:
            from app.search.engine import SearchEngine

            engine = self.__dict__["_engine"] = SearchEngine(self.store, profile, self.device, text_encoder=self.settings.text_encoder)
        return engine
