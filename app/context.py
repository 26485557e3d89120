"""The objects one process works with, built once from one `Settings`: the store, the model
profile and the search engine. The CLI builds a `Context` per command, the Streamlit app one
per server process; tests build one with the settings (and profile) they need.

Everything is made on first use, so `mmsearch --help` or a bad flag never opens the database
or imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from app.settings import Settings

if TYPE_CHECKING:
    from app.search.engine import SearchEngine
    from encoders.profiles import Profile
    from milvus import VectorStore


def apply_settings(settings: Settings) -> None:
    """Hand the settings to the layers below, which never read the environment themselves."""
    from encoders import weights
    from indexers import config
    from milvus import client, servers

    weights.configure(home=settings.home, overrides=settings.weights_overrides)
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
        """The model profile: which encoder embeds what."""
        return self._profile_and_reason[0]

    @property
    def profile_reason(self) -> str:
        """One sentence on why this profile (auto picks by the weights on this machine)."""
        return self._profile_and_reason[1]

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

    @cached_property
    def engine(self) -> "SearchEngine":
        """The search engine over the store with the profile's models."""
        from app.search.engine import SearchEngine

        return SearchEngine(self.store, self.profile, self.device, text_encoder=self.settings.text_encoder)
