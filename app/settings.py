"""mmsearch's settings: one object that reads every `MMSEARCH_*` variable and an optional TOML file.

Build it once, where the process starts (the CLI from its flags, the app on start-up), and pass it
down; nothing else should read the environment:

    settings = Settings.load(overrides={"db": args.db, "device": args.device})

Precedence, highest first: `overrides` (command-line flags; a `None` value means "flag not given")
> environment > TOML file > defaults. The TOML file is `$MMSEARCH_CONFIG` if set, else
`./mmsearch.toml` if present, else `$MMSEARCH_HOME/config.toml` if present. Its keys are the
field names (`db = "data/x.db"`, `device = "cpu"`, a `[weights_overrides]` table keyed by
encoder id). Relative paths are relative to the working directory.

`settings.sources()` says where each value came from and `settings.describe()` gives the rows
`mmsearch doctor` prints (secrets shown only as "set"/"unset").

This module is a leaf: it imports only the standard library, pydantic and pydantic-settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: The repository root (the folder holding app/); the test/bench server venvs live beside it.
REPO = Path(__file__).resolve().parents[1]

DEFAULT_DB = "./data/mmsearch.db"  # milvus/store.py DEFAULT_LITE_PATH
DEFAULT_MAX_PIXELS = 100_000_000  # indexers/image_io.py
DEFAULT_MAX_AUDIO_SECONDS = 3600.0  # indexers/audio_io.py
DEFAULT_TRANSCRIBER = "faster-whisper:tiny.en"  # encoders/transcribe.py
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"  # app generators OLLAMA_DEFAULT_URL

CONFIG_ENV = "MMSEARCH_CONFIG"
LOCAL_CONFIG = "mmsearch.toml"
HOME_CONFIG = "config.toml"
WEIGHTS_PREFIX = "MMSEARCH_WEIGHTS_"

#: URI schemes that name a Milvus server; a value without a scheme is a Milvus Lite path.
SERVER_SCHEMES = ("http", "https", "tcp", "unix")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: `C:\x.db` is a path
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


BUILTIN_PROFILES = ("auto", "full", "offline")
PROFILE_KEYS_REQUIRED = ("image_encoders", "text_to_image", "image_to_image", "text")
PROFILE_KEYS = (*PROFILE_KEYS_REQUIRED, "audio", "note")


class SettingsError(ValueError):
    """A setting could not be read or is invalid; the message names the variable or file."""

    user_facing = True  # app.errors.user_message shows the message as it is
    from_flag = False  # set when a command-line flag holds the invalid value


def default_home() -> Path:
    """`~/.cache/mmsearch`: the per-user cache folder when `MMSEARCH_HOME` is not set."""
    return Path.home() / ".cache" / "mmsearch"


def weights_env_var(encoder_id: str) -> str:
    """The variable that points an encoder at local weights, named as encoders/weights.py names it.

    e.g. `open_clip:ViT-B-32/laion2b_s34b_b79k` → `MMSEARCH_WEIGHTS_OPEN_CLIP_VIT_B_32_LAION2B_S34B_B79K`.
    A name that already starts with `MMSEARCH_WEIGHTS_` is returned unchanged.
    """
    if encoder_id.startswith(WEIGHTS_PREFIX):
        return encoder_id
    return WEIGHTS_PREFIX + re.sub(r"[^a-z0-9]+", "_", encoder_id.lower()).strip("_").upper()


def is_server_uri(uri: str) -> bool:
    """True for an http(s)/tcp/unix URI (a Milvus server); anything else is a Milvus Lite path."""
    m = _SCHEME.match(uri)
    return bool(m and m.group(1).lower() in SERVER_SCHEMES)


def find_config_file(environ: Mapping[str, str] | None = None) -> tuple[Path | None, str]:
    """The TOML file to read and how it was found: `$MMSEARCH_CONFIG` (it must exist),
    else `./mmsearch.toml`, else `$MMSEARCH_HOME/config.toml`, else none."""
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV}={explicit}: no such file")
        return path, f"env {CONFIG_ENV}"
    local = Path(LOCAL_CONFIG)
    if local.is_file():
        return local.resolve(), "found in the working directory"
    home = Path(env.get("MMSEARCH_HOME") or default_home()).expanduser()
    if (home / HOME_CONFIG).is_file():
        return home / HOME_CONFIG, "found in MMSEARCH_HOME"
    return None, "none found"


# -- one construction's inputs and provenance ------------------------------------------------
@dataclass
class _Load:
    environ: Mapping[str, str]
    config_file: Path | None
    config_how: str
    flags: set[str] = field(default_factory=set)
    env: dict[str, str] = field(default_factory=dict)  # field -> "env NAME"
    file: dict[str, str] = field(default_factory=dict)  # field -> "file PATH"
    weights_flags: set[str] = field(default_factory=set)  # MMSEARCH_WEIGHTS_* names
    weights_env: set[str] = field(default_factory=set)
    weights_file: dict[str, str] = field(default_factory=dict)  # name -> "file PATH"

    def origin(self, name: str) -> str:
        """Where field `name` came from, highest source first (sources may run in any order)."""
        if name in self.flags:
            return "flag"
        return self.env.get(name) or self.file.get(name) or "default"

    def weight_origin(self, var: str) -> str:
        """Where the weights override named `var` (MMSEARCH_WEIGHTS_*) came from."""
        if var in self.weights_flags:
            return "flag"
        if var in self.weights_env:
            return f"env {var}"
        return self.weights_file.get(var, "default")


_LOAD: ContextVar[_Load | None] = ContextVar("mmsearch_settings_load", default=None)


def _env(*names: str) -> dict[str, Any]:
    return {"env": list(names)}


class _EnvironSource(PydanticBaseSettingsSource):
    """Environment variables, from a mapping (os.environ unless a test passes its own).
    Each field reads its names in order; an empty value counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], load: _Load) -> None:
        super().__init__(settings_cls)
        self.load = load

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for var in Settings.env_names(field_name):
            value = self.load.environ.get(var)
            if value:
                return value, var, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            if name == "weights_overrides":
                continue
            value, var, _ = self.get_field_value(info, name)
            if value is not None:
                data[name] = value
                self.load.env[name] = f"env {var}"
        weights = {
            var: value
            for var, value in self.load.environ.items()
            if var.startswith(WEIGHTS_PREFIX) and len(var) > len(WEIGHTS_PREFIX) and value
        }
        if weights:
            data["weights_overrides"] = weights
            self.load.env["weights_overrides"] = "env " + ", ".join(sorted(weights))
            self.load.weights_env.update(weights)
        return data


class _TomlSource(TomlConfigSettingsSource):
    """The TOML file, with errors that name it and keys checked against the field names."""

    def __init__(self, settings_cls: type[BaseSettings], load: _Load) -> None:
        self.load = load
        self.known = set(settings_cls.model_fields)  # _read_file runs before the base sets settings_cls
        super().__init__(settings_cls, toml_file=load.config_file)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: tomli (pydantic-settings[toml])
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                raise SettingsError(f"settings file {file_path}: reading TOML on Python 3.10 needs tomli") from None
        try:
            with open(file_path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"settings file {file_path}: not valid TOML: {e}") from None
        except OSError as e:
            raise SettingsError(f"settings file {file_path}: cannot read it: {e.strerror or e}") from None
        known = self.known
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(
                f"settings file {file_path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        label = f"file {file_path}"
        if "weights_overrides" in data:
            table = data["weights_overrides"]
            if not isinstance(table, dict):
                raise SettingsError(f"settings file {file_path}: weights_overrides must be a table of encoder id = path")
            data["weights_overrides"] = {weights_env_var(k): v for k, v in table.items()}
            for var in data["weights_overrides"]:
                self.load.weights_file[var] = label
        for name in data:
            self.load.file[name] = label
        return data


# -- the settings ---------------------------------------------------------------------------
class Settings(BaseSettings):
    """Every setting mmsearch reads, typed, with where each value came from.

    Build with `Settings.load(...)`; `Settings()` is the same with no flags and `os.environ`.
    """

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    # database
    db: str = Field(
        DEFAULT_DB,
        description="The database: a `.db` path (Milvus Lite) or http(s)://host:port (a Milvus server).",
        json_schema_extra=_env("MMSEARCH_DB", "MILVUS_URI"),
    )
    milvus_token: SecretStr | None = Field(
        None, description="Token (user:password or API key) for a Milvus server.", json_schema_extra=_env("MILVUS_TOKEN")
    )
    # models and hardware
    device: str = Field("auto", description="Where models run: auto, cpu, cuda, cuda:N or mps.")
    profile: str = Field(
        "auto", description="Which encoders: full (downloaded weights), offline (packaged), auto, or one of `profiles`."
    )
    profiles: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Profiles of your own (TOML tables [profiles.NAME]: image_encoders, text_to_image, "
        "image_to_image, text, audio, note); a built-in name is replaced.",
        json_schema_extra={"env": []},
    )
    text_encoder: str | None = Field(
        None, description="Text encoder for documents; unset: the existing collection's, else the best available."
    )
    transcriber: str = Field(DEFAULT_TRANSCRIBER, description="Speech-to-text model for videos.")
    speech_languages: list[str] = Field(
        default_factory=list,
        description="Languages the speech may be in (e.g. ko,en): Whisper picks among them, or uses the one; "
        "empty: it detects any. Needs a multilingual model (e.g. faster-whisper:base).",
    )
    weights_overrides: dict[str, Path] = Field(
        default_factory=dict,
        description="Local weights per encoder, keyed by MMSEARCH_WEIGHTS_<ENCODER_ID> (TOML: keyed by encoder id).",
        json_schema_extra={"env": [], "env_prefix": WEIGHTS_PREFIX},
    )
    models_mirror: str | None = Field(
        None,
        description="Base URL that serves direct-URL weights (torchvision, PANNs, openai-whisper) by file name, "
        "for machines behind a firewall; hub files follow HF_ENDPOINT.",
    )
    # files
    home: Path = Field(default_factory=default_home, description="Per-user cache folder (weights, calibration, thumbnails).")
    calibration: Path = Field(
        None,  # type: ignore[assignment]  # filled from home by _derived_defaults
        description="Score calibration file; default HOME/calibration.json.",
        validate_default=False,
    )
    thumbs: Path | None = Field(
        None, description="Thumbnail folder; default beside a Lite .db (data/thumbs), else HOME/thumbs."
    )
    # limits
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0, description="Largest image (width × height) that is decoded.")
    max_audio_seconds: float = Field(
        DEFAULT_MAX_AUDIO_SECONDS, gt=0, description="Longest audio per file; longer files are cut there."
    )
    # answers (RAG)
    llm: str = Field("auto", description="Answer generator: auto, extractive, ollama[:MODEL] or openai[:MODEL].")
    llm_model: str | None = Field(None, description="Language model name when `llm` names none.")
    llm_url: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible endpoint.",
        json_schema_extra=_env("MMSEARCH_LLM_URL", "OPENAI_BASE_URL"),
    )
    llm_api_key: SecretStr | None = Field(
        None,
        description="API key of the OpenAI-compatible endpoint (never printed).",
        json_schema_extra=_env("MMSEARCH_LLM_API_KEY", "OPENAI_API_KEY"),
    )
    ollama_host: str = Field(DEFAULT_OLLAMA_HOST, description="Ollama server URL.", json_schema_extra=_env("OLLAMA_HOST"))
    # embedding services: the `ollama:MODEL` encoders use `ollama_host`, the `openai:MODEL` ones these
    embed_url: str | None = Field(
        None,
        description="Base URL (ending in /v1) of the OpenAI-compatible embeddings endpoint of `openai:MODEL` encoders; "
        "unset: `llm_url`, else https://api.openai.com/v1.",
    )
    embed_api_key: SecretStr | None = Field(
        None, description="API key of that embeddings endpoint (never printed); unset: `llm_api_key`."
    )
    embed_batch_size: int = Field(64, gt=0, description="Texts per request to an embedding service (Ollama, OpenAI-compatible).")
    # the server (`mmsearch serve`)
    api_token: SecretStr | None = Field(
        None,
        description="Token the server asks of every API call and of the app; required to bind beyond 127.0.0.1.",
    )
    library_roots: list[Path] = Field(
        default_factory=lambda: [Path("~").expanduser()],
        description="Folders whose files the Library page and the API may index by path (os.pathsep-separated).",
    )
    uploads: Path | None = Field(
        None, description="Where uploaded files are kept; default beside a Lite .db (data/uploads), else HOME/uploads."
    )
    upload_max_mb: float = Field(200.0, gt=0, description="Largest file the server accepts as an upload, in MB.")
    # tests and benchmarks
    milvus_server_venv: Path = Field(
        REPO / ".venv-milvus-server", description="Venv of the Milvus 2.3.5 test server (tests, bench)."
    )
    lite3_venv: Path = Field(REPO / ".venv-lite3", description="Venv of the Milvus Lite 3 test server (tests, bench).")
    failpoint: str | None = Field(None, description="Test seam: the named point where a run stops and waits.")

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _weight_origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _config_file: Path | None = PrivateAttr(default=None)
    _config_how: str = PrivateAttr(default="none found")

    # -- construction ------------------------------------------------------------------------
    def __init__(self, **values: Any) -> None:
        load = _LOAD.get()
        token = None
        if load is None:
            path, how = find_config_file(os.environ)
            load = _Load(os.environ, path, how)
            token = _LOAD.set(load)
        load.flags.update(values)
        load.weights_flags.update(weights_env_var(k) for k in values.get("weights_overrides") or {})
        try:
            super().__init__(**values)
        except ValidationError as e:
            err = SettingsError(_explain(e, load))
            # a bad flag is bad usage: the CLI answers it like argparse does (exit 2)
            err.from_flag = any(load.origin(str(x["loc"][0] if x.get("loc") else "profile")) == "flag" for x in e.errors())
            raise err from None
        finally:
            if token is not None:
                _LOAD.reset(token)
        self._origins = {name: load.origin(name) for name in type(self).model_fields}
        self._weight_origins = {var: load.weight_origin(var) for var in self.weights_overrides}
        if self._weight_origins:
            self._origins["weights_overrides"] = "; ".join(sorted(set(self._weight_origins.values())))
        self._config_file = load.config_file
        self._config_how = load.config_how

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        toml_path: Path | str | None = None,
    ) -> Settings:
        """The effective settings: `overrides` (flags; `None` values are ignored) > `environ`
        (default `os.environ`) > the TOML file (`toml_path`, else found by `find_config_file`) > defaults.

        Raises SettingsError naming the variable or file at fault.
        """
        env = os.environ if environ is None else environ
        if toml_path is not None:
            path: Path | None = Path(toml_path).expanduser()
            if not path.is_file():
                raise SettingsError(f"settings file {path}: no such file")
            how = "argument"
        else:
            path, how = find_config_file(env)
        flags = {k: v for k, v in (overrides or {}).items() if v is not None}
        unknown = sorted(set(flags) - set(cls.model_fields))
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")
        if "weights_overrides" in flags:
            flags["weights_overrides"] = {weights_env_var(k): v for k, v in flags["weights_overrides"].items()}
        token = _LOAD.set(_Load(env, path, how))
        try:
            return cls(**flags)
        finally:
            _LOAD.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags > environment > TOML file; no .env or secrets-directory reading."""
        load = _LOAD.get()
        assert load is not None, "construct Settings through Settings.load() or Settings()"
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvironSource(settings_cls, load)]
        if load.config_file is not None:
            sources.append(_TomlSource(settings_cls, load))
        return tuple(sources)

    @classmethod
    def env_names(cls, name: str) -> tuple[str, ...]:
        """The environment variables a field reads, first match wins (`MMSEARCH_<NAME>` unless declared)."""
        extra = cls.model_fields[name].json_schema_extra
        if isinstance(extra, dict) and "env" in extra:
            return tuple(extra["env"])  # type: ignore[arg-type]
        return ("MMSEARCH_" + name.upper(),)

    # -- validation --------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("calibration"):
            home = Path(data.get("home") or default_home()).expanduser()
            data = {**data, "calibration": home / "calibration.json"}
        return data

    @field_validator("db")
    @classmethod
    def _check_db(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("the database is empty; give a .db path or http(s)://host:port")
        m = _SCHEME.match(v)
        if m and m.group(1).lower() not in SERVER_SCHEMES:
            raise ValueError(
                f"{v!r} is neither a local path (Milvus Lite, e.g. ./data/mmsearch.db) "
                "nor a server URI (e.g. http://localhost:19530)"
            )
        return v

    @field_validator("device", mode="before")
    @classmethod
    def _check_device(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().lower()
            if not _DEVICE.match(v):
                raise ValueError(f"{v!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
        return v

    @field_validator("profile", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _known_profile(self) -> "Settings":
        if self.profile not in BUILTIN_PROFILES and self.profile not in self.profiles:
            known = ", ".join([*BUILTIN_PROFILES, *(p for p in self.profiles if p not in BUILTIN_PROFILES)])
            raise ValueError(f"unknown profile {self.profile!r}; choose {known} (or define [profiles.{self.profile}] in mmsearch.toml)")
        for name, table in self.profiles.items():
            missing = [k for k in PROFILE_KEYS_REQUIRED if k not in table]
            unknown = [k for k in table if k not in PROFILE_KEYS]
            if missing or unknown:
                raise ValueError(
                    f"profile {name!r}: " + "; ".join(filter(None, [
                        f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(unknown)}" if unknown else ""
                    ]))
                )
        return self

    @field_validator("ollama_host")
    @classmethod
    def _ollama_scheme(cls, v: str) -> str:
        v = v.strip()
        return v if v.startswith(("http://", "https://")) else "http://" + v  # OLLAMA_HOST may be host:port

    @field_validator("speech_languages", mode="before")
    @classmethod
    def _split_languages(cls, v: Any) -> Any:
        return [part.strip().lower() for part in v.split(",") if part.strip()] if isinstance(v, str) else v

    @field_validator("library_roots", mode="before")
    @classmethod
    def _split_roots(cls, v: Any) -> Any:
        return [part for part in v.split(os.pathsep) if part.strip()] if isinstance(v, str) else v

    @field_validator("library_roots")
    @classmethod
    def _expand_roots(cls, v: list[Path]) -> list[Path]:
        return [p.expanduser() for p in v]

    @field_validator("home", "calibration", "thumbs", "uploads", "milvus_server_venv", "lite3_venv")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @field_validator("weights_overrides")
    @classmethod
    def _weights_keys(cls, v: dict[str, Path]) -> dict[str, Path]:
        return {weights_env_var(k): p.expanduser() for k, p in v.items()}

    # -- reading -----------------------------------------------------------------------------
    @property
    def db_is_server(self) -> bool:
        """True for an http(s)/tcp/unix URI (a Milvus server); False for a local Lite path."""
        return is_server_uri(self.db)

    @property
    def config_file(self) -> Path | None:
        """The TOML file that was read, if any."""
        return self._config_file

    def weights_override(self, encoder_id: str) -> Path | None:
        """The local weights path set for `encoder_id` (via MMSEARCH_WEIGHTS_<ID> or the file), if any."""
        return self.weights_overrides.get(weights_env_var(encoder_id))

    def thumbs_dir(self, db: str | None = None) -> Path:
        """Where thumbnails live for `db` (default this database): `thumbs` if set, else beside a
        Lite `.db`, else HOME/thumbs (as indexers/thumbs.py decides)."""
        return self.thumbs if self.thumbs is not None else self.beside_db("thumbs", db)

    def uploads_dir(self) -> Path:
        """Where the server keeps uploaded files: `uploads` if set, else beside a Lite `.db`, else HOME/uploads."""
        return self.uploads if self.uploads is not None else self.beside_db("uploads")

    def beside_db(self, name: str, db: str | None = None) -> Path:
        """The folder `name` beside a Lite `.db` (default this database), else HOME/`name` for a server."""
        uri = self.db if db is None else db
        if not is_server_uri(uri) and uri.endswith(".db"):
            return Path(uri).parent / name
        return self.home / name

    def sources(self) -> dict[str, str]:
        """For each field, where its value came from: "flag", "env NAME", "file PATH" or "default"."""
        return dict(self._origins)

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, value as shown, source) rows for `mmsearch doctor`; secrets show as set/unset."""
        how = self._config_how
        rows = [("config_file", str(self._config_file) if self._config_file else "none", how)]
        for name in type(self).model_fields:
            if name == "weights_overrides":
                continue
            value = getattr(self, name)
            if name == "thumbs" and value is None:
                rows.append((name, str(self.thumbs_dir()), "default"))
                continue
            rows.append((name, _shown(value), self._origins[name]))
        if self.weights_overrides:
            for var, path in sorted(self.weights_overrides.items()):
                rows.append((f"weights_overrides[{var}]", str(path), self._weight_origins.get(var, "default")))
        else:
            rows.append(("weights_overrides", "none", "default"))
        return rows

    def to_environ(self, include_defaults: bool = False) -> dict[str, str]:
        """These settings as environment variables, for a child process (e.g. the Streamlit app)
        to rebuild the same Settings. Secrets are included in clear: pass it only to a child's env."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            if name == "weights_overrides":
                continue
            value = getattr(self, name)
            if value is None or (not include_defaults and self._origins[name] == "default"):
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if name == "speech_languages":
                value = ",".join(value)
            elif isinstance(value, list):
                value = os.pathsep.join(str(v) for v in value)
            out[self.env_names(name)[0]] = str(value)
        for var, path in self.weights_overrides.items():
            out[var] = str(path)
        return out


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "set" if value.get_secret_value() else "unset"
    if value is None:
        return "unset"
    return str(value)


def _explain(error: ValidationError, load: _Load) -> str:
    """One line per invalid value, naming where it came from; secret inputs are not echoed."""
    lines = []
    for err in error.errors():
        loc = err.get("loc") or ()
        if not loc:  # a check across fields (an unknown profile): the message says it all
            lines.append(err.get("msg", "invalid").removeprefix("Value error, "))
            continue
        name = str(loc[0])
        where = load.origin(name)
        if name == "weights_overrides" and len(loc) > 1:
            where = load.weight_origin(str(loc[1]))
            name = f"weights_overrides[{loc[1]}]"
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        secret = name in ("llm_api_key", "embed_api_key", "milvus_token", "api_token")
        shown = "" if secret or err.get("type") == "missing" else f" = {err.get('input')!r}"
        lines.append(f"{name}{shown} (from {where}): {msg}")
    if len(lines) == 1:
        return f"invalid setting: {lines[0]}"
    return "invalid settings:\n  " + "\n  ".join(lines)
