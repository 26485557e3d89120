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

This module is a leaf that imports only the standard library: every CLI call builds it first, and
pydantic with pydantic-settings cost ~0.35 CPU s to import here, as much as the rest of a query
answered through a running server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# -- values ------------------------------------------------------------------------------------
class Secret:
    """A secret setting (a token, an API key): shown as `**********` by repr and str; read it with
    `get_secret_value()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself (pass it on; never log or print it)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))


def _text(v: Any) -> str:
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if not isinstance(v, str):
        raise ValueError("should be text")
    return v


def _positive(kind: type) -> Callable[[Any], Any]:
    """A converter to `kind` (int or float) above 0, refusing with the sentence a user sees."""
    name = "a whole number" if kind is int else "a number"

    def convert(v: Any) -> Any:
        if isinstance(v, str):  # from a flag, a variable or the file
            try:
                x = kind(v.strip())
            except ValueError:
                raise ValueError(f"should be {name}") from None
        elif isinstance(v, (int, float)) and not isinstance(v, bool):  # set in code or TOML
            if kind is int and v != int(v):  # 2.5 is not a whole number; 2.0 is
                raise ValueError(f"should be {name}")
            x = kind(v)
        else:
            raise ValueError(f"should be {name}")
        if not x > 0:  # also refuses NaN
            raise ValueError("should be greater than 0")
        return x

    return convert


def _path(v: Any) -> Path:
    return Path(_text(v)).expanduser()


def _secret(v: Any) -> Secret:
    return v if isinstance(v, Secret) else Secret(_text(v))


def _db(v: Any) -> str:
    v = _text(v).strip()
    if not v:
        raise ValueError("the database is empty; give a .db path or http(s)://host:port")
    m = _SCHEME.match(v)
    if m and m.group(1).lower() not in SERVER_SCHEMES:
        raise ValueError(
            f"{v!r} is neither a local path (Milvus Lite, e.g. ./data/mmsearch.db) "
            "nor a server URI (e.g. http://localhost:19530)"
        )
    return v


def _device(v: Any) -> str:
    v = _text(v).strip().lower()
    if not _DEVICE.match(v):
        raise ValueError(f"{v!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return v


def _lower(v: Any) -> str:
    return _text(v).strip().lower()


def _ollama_host(v: Any) -> str:
    v = _text(v).strip()
    return v if v.startswith(("http://", "https://")) else "http://" + v  # OLLAMA_HOST may be host:port


def _languages(v: Any) -> list[str]:
    parts = v.split(",") if isinstance(v, str) else v
    if not isinstance(parts, (list, tuple)):
        raise ValueError("should be a comma-separated list of language codes")
    return [part for part in (_text(x).strip().lower() for x in parts) if part]


def _roots(v: Any) -> list[Path]:
    parts = v.split(os.pathsep) if isinstance(v, str) else v
    if not isinstance(parts, (list, tuple)):
        raise ValueError(f"should be a list of folders ({os.pathsep!r}-separated)")
    return [_path(x) for x in parts if _text(x).strip()]


def _weights(v: Any) -> dict[str, Path]:
    if not isinstance(v, Mapping):
        raise ValueError("should be a table of encoder id = path")
    return {weights_env_var(_text(k)): _path(p) for k, p in v.items()}


def _profiles(v: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(v, Mapping) or not all(isinstance(t, Mapping) for t in v.values()):
        raise ValueError("should be tables [profiles.NAME] of image_encoders, text_to_image, image_to_image, text, …")
    return {_text(name): dict(table) for name, table in v.items()}


@dataclass(frozen=True)
class Field:
    """One setting: its default (a value, or a function of nothing), how a raw value (text from
    the environment, a TOML value, a flag) becomes a typed one, and which variables it reads
    (`MMSEARCH_<NAME>` unless `env` says; an empty tuple: none)."""

    default: Any
    convert: Callable[[Any], Any]
    description: str
    env: tuple[str, ...] | None = None
    optional: bool = False


def _opt(convert: Callable[[Any], Any], description: str, env: tuple[str, ...] | None = None) -> Field:
    return Field(None, convert, description, env, optional=True)


#: Every setting, in the order `mmsearch doctor` shows them.
FIELDS: dict[str, Field] = {
    # database
    "db": Field(DEFAULT_DB, _db, "The database: a `.db` path (Milvus Lite) or http(s)://host:port (a Milvus server).",
                ("MMSEARCH_DB", "MILVUS_URI")),
    "milvus_token": _opt(_secret, "Token (user:password or API key) for a Milvus server.", ("MILVUS_TOKEN",)),
    # models and hardware
    "device": Field("auto", _device, "Where models run: auto, cpu, cuda, cuda:N or mps."),
    "profile": Field("auto", _lower, "Which encoders: full (downloaded weights), offline (packaged), auto, or one of `profiles`."),
    "profiles": Field(dict, _profiles, "Profiles of your own (TOML tables [profiles.NAME]: image_encoders, text_to_image, "
                      "image_to_image, text, audio, note); a built-in name is replaced.", ()),
    "text_encoder": _opt(_text, "Text encoder for documents; unset: the existing collection's, else the best available."),
    "transcriber": Field(DEFAULT_TRANSCRIBER, _text, "Speech-to-text model for videos."),
    "speech_languages": Field(list, _languages, "Languages the speech may be in (e.g. ko,en): Whisper picks among them, "
                              "or uses the one; empty: it detects any. Needs a multilingual model (e.g. faster-whisper:base)."),
    "weights_overrides": Field(dict, _weights, "Local weights per encoder, keyed by MMSEARCH_WEIGHTS_<ENCODER_ID> "
                               "(TOML: keyed by encoder id).", ()),
    "models_mirror": _opt(_text, "Base URL that serves direct-URL weights (torchvision, PANNs, openai-whisper) by file "
                          "name, for machines behind a firewall; hub files follow HF_ENDPOINT."),
    # files
    "home": Field(default_home, _path, "Per-user cache folder (weights, calibration, thumbnails)."),
    "calibration": _opt(_path, "Score calibration file; default HOME/calibration.json."),
    "thumbs": _opt(_path, "Thumbnail folder; default beside a Lite .db (data/thumbs), else HOME/thumbs."),
    # limits
    "max_pixels": Field(DEFAULT_MAX_PIXELS, _positive(int), "Largest image (width × height) that is decoded."),
    "max_audio_seconds": Field(DEFAULT_MAX_AUDIO_SECONDS, _positive(float), "Longest audio per file; longer files are cut there."),
    # answers (RAG)
    "llm": Field("auto", _text, "Answer generator: auto, extractive, ollama[:MODEL] or openai[:MODEL]."),
    "llm_model": _opt(_text, "Language model name when `llm` names none."),
    "llm_url": _opt(_text, "Base URL of an OpenAI-compatible endpoint.", ("MMSEARCH_LLM_URL", "OPENAI_BASE_URL")),
    "llm_api_key": _opt(_secret, "API key of the OpenAI-compatible endpoint (never printed).",
                        ("MMSEARCH_LLM_API_KEY", "OPENAI_API_KEY")),
    "ollama_host": Field(DEFAULT_OLLAMA_HOST, _ollama_host, "Ollama server URL.", ("OLLAMA_HOST",)),
    # embedding services: the `ollama:MODEL` encoders use `ollama_host`, the `openai:MODEL` ones these
    "embed_url": _opt(_text, "Base URL (ending in /v1) of the OpenAI-compatible embeddings endpoint of `openai:MODEL` "
                      "encoders; unset: `llm_url`, else https://api.openai.com/v1."),
    "embed_api_key": _opt(_secret, "API key of that embeddings endpoint (never printed); unset: `llm_api_key`."),
    "embed_batch_size": Field(64, _positive(int), "Texts per request to an embedding service (Ollama, OpenAI-compatible)."),
    # the server (`mmsearch serve`)
    "api_token": _opt(_secret, "Token the server asks of every API call and of the app; required to bind beyond 127.0.0.1."),
    "library_roots": Field(lambda: [Path("~").expanduser()], _roots,
                           "Folders whose files the Library page and the API may index by path (os.pathsep-separated)."),
    "uploads": _opt(_path, "Where uploaded files are kept; default beside a Lite .db (data/uploads), else HOME/uploads."),
    "upload_max_mb": Field(200.0, _positive(float), "Largest file the server accepts as an upload, in MB."),
    # tests and benchmarks
    "milvus_server_venv": Field(REPO / ".venv-milvus-server", _path, "Venv of the Milvus 2.3.5 test server (tests, bench)."),
    "lite3_venv": Field(REPO / ".venv-lite3", _path, "Venv of the Milvus Lite 3 test server (tests, bench)."),
    "failpoint": _opt(_text, "Test seam: the named point where a run stops and waits."),
}
SECRETS = tuple(name for name, f in FIELDS.items() if f.convert is _secret)
_MERGED = ("weights_overrides", "profiles")  # tables: each source adds its keys over the lower ones


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
        """Where field `name` came from, highest source first."""
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

    def from_environment(self) -> dict[str, Any]:
        """The fields set by environment variables (raw text); each field reads its names in
        order, and an empty value counts as unset."""
        data: dict[str, Any] = {}
        for name in FIELDS:
            for var in Settings.env_names(name):
                value = self.environ.get(var)
                if value:
                    data[name] = value
                    self.env[name] = f"env {var}"
                    break
        weights = {
            var: value
            for var, value in self.environ.items()
            if var.startswith(WEIGHTS_PREFIX) and len(var) > len(WEIGHTS_PREFIX) and value
        }
        if weights:
            data["weights_overrides"] = weights
            self.env["weights_overrides"] = "env " + ", ".join(sorted(weights))
            self.weights_env.update(weights)
        return data

    def from_file(self) -> dict[str, Any]:
        """The fields set in the TOML file, keys checked against the field names."""
        if self.config_file is None:
            return {}
        import tomllib

        path = self.config_file
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"settings file {path}: not valid TOML: {e}") from None
        except OSError as e:
            raise SettingsError(f"settings file {path}: cannot read it: {e.strerror or e}") from None
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise SettingsError(f"settings file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}")
        label = f"file {path}"
        if "weights_overrides" in data:
            table = data["weights_overrides"]
            if not isinstance(table, dict):
                raise SettingsError(f"settings file {path}: weights_overrides must be a table of encoder id = path")
            data["weights_overrides"] = {weights_env_var(k): v for k, v in table.items()}
            for var in data["weights_overrides"]:
                self.weights_file[var] = label
        for name in data:
            self.file[name] = label
        return data


# -- the settings ---------------------------------------------------------------------------
class Settings:
    """Every setting mmsearch reads, typed, with where each value came from. Immutable.

    Build with `Settings.load(...)`; `Settings(**flags)` is the same with `os.environ`.
    The fields, their defaults and variables are in `FIELDS`.
    """

    db: str
    milvus_token: Secret | None
    device: str
    profile: str
    profiles: dict[str, dict[str, Any]]
    text_encoder: str | None
    transcriber: str
    speech_languages: list[str]
    weights_overrides: dict[str, Path]
    models_mirror: str | None
    home: Path
    calibration: Path
    thumbs: Path | None
    max_pixels: int
    max_audio_seconds: float
    llm: str
    llm_model: str | None
    llm_url: str | None
    llm_api_key: Secret | None
    ollama_host: str
    embed_url: str | None
    embed_api_key: Secret | None
    embed_batch_size: int
    api_token: Secret | None
    library_roots: list[Path]
    uploads: Path | None
    upload_max_mb: float
    milvus_server_venv: Path
    lite3_venv: Path
    failpoint: str | None

    # -- construction ------------------------------------------------------------------------
    def __init__(self, **flags: Any) -> None:
        """Flags (keyword values) over `os.environ` over the TOML file `find_config_file` finds."""
        path, how = find_config_file(os.environ)
        self._build(_Load(os.environ, path, how), flags)

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
        self = cls.__new__(cls)
        self._build(_Load(env, path, how), {k: v for k, v in (overrides or {}).items() if v is not None})
        return self

    def _build(self, load: _Load, flags: Mapping[str, Any]) -> None:
        unknown = sorted(set(flags) - set(FIELDS))
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")
        flags = dict(flags)
        if "weights_overrides" in flags:
            flags["weights_overrides"] = {weights_env_var(k): v for k, v in flags["weights_overrides"].items()}
            load.weights_flags.update(flags["weights_overrides"])
        load.flags.update(flags)
        raw: dict[str, Any] = {}
        for source in (load.from_file(), load.from_environment(), flags):  # lowest first
            for name, value in source.items():
                if name in _MERGED and isinstance(raw.get(name), dict) and isinstance(value, dict):
                    value = {**raw[name], **value}
                raw[name] = value
        values: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []  # (field at fault, the line that says why)
        for name, spec in FIELDS.items():
            if name not in raw or (raw[name] is None and spec.optional):
                values[name] = spec.default() if callable(spec.default) else spec.default
                continue
            try:
                values[name] = spec.convert(raw[name])
            except ValueError as e:
                errors.append((name, _problem(name, raw[name], load, str(e))))
        if not errors and values["calibration"] is None:
            values["calibration"] = values["home"] / "calibration.json"
        if not errors and (problem := _check_profiles(values["profile"], values["profiles"])):
            errors.append(("profile", problem))
        if errors:
            lines = [line for _, line in errors]
            err = SettingsError(f"invalid setting: {lines[0]}" if len(lines) == 1 else "invalid settings:\n  " + "\n  ".join(lines))
            # a bad flag is bad usage: the CLI answers it like argparse does (exit 2)
            err.from_flag = any(load.origin(name) == "flag" for name, _ in errors)
            raise err
        origins = {name: load.origin(name) for name in FIELDS}
        weight_origins = {var: load.weight_origin(var) for var in values["weights_overrides"]}
        if weight_origins:
            origins["weights_overrides"] = "; ".join(sorted(set(weight_origins.values())))
        self._set(values, origins, weight_origins, load.config_file, load.config_how)

    def _set(self, values: dict[str, Any], origins: dict[str, str], weight_origins: dict[str, str], config_file: Path | None, config_how: str) -> None:
        d = self.__dict__
        d.update(values)
        d["_origins"], d["_weight_origins"] = origins, weight_origins
        d["_config_file"], d["_config_how"] = config_file, config_how

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"settings are frozen: cannot set {name!r}; build new ones with Settings.load() or .replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"settings are frozen: cannot delete {name!r}")

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` applied (each value checked as a flag would be); their source
        reads "set in code"."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")
        values, origins = self.as_dict(), dict(self._origins)
        for name, value in changes.items():
            spec = FIELDS[name]
            values[name] = None if value is None and spec.optional else spec.convert(value)
            origins[name] = "set in code"
        new = type(self).__new__(type(self))
        new._set(values, origins, dict(self._weight_origins), self._config_file, self._config_how)
        return new

    @classmethod
    def env_names(cls, name: str) -> tuple[str, ...]:
        """The environment variables a field reads, first match wins (`MMSEARCH_<NAME>` unless declared)."""
        env = FIELDS[name].env
        return env if env is not None else ("MMSEARCH_" + name.upper(),)

    # -- reading -----------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """Every field's value, by name (secrets stay `Secret`s)."""
        return {name: self.__dict__[name] for name in FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and other.as_dict() == self.as_dict()

    __hash__ = None  # type: ignore[assignment]  # holds lists and dicts

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items()) + ")"

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
        for name in FIELDS:
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
        for name in FIELDS:
            if name == "weights_overrides" or not self.env_names(name):
                continue
            value = getattr(self, name)
            if value is None or (not include_defaults and self._origins[name] == "default"):
                continue
            if isinstance(value, Secret):
                value = value.get_secret_value()
            if name == "speech_languages":
                value = ",".join(value)
            elif isinstance(value, list):
                value = os.pathsep.join(str(v) for v in value)
            out[self.env_names(name)[0]] = str(value)
        for var, path in self.weights_overrides.items():
            out[var] = str(path)
        return out


def _check_profiles(profile: str, profiles: dict[str, dict[str, Any]]) -> str | None:
    """Why the chosen profile or a profile table is wrong, or None."""
    if profile not in BUILTIN_PROFILES and profile not in profiles:
        known = ", ".join([*BUILTIN_PROFILES, *(p for p in profiles if p not in BUILTIN_PROFILES)])
        return f"unknown profile {profile!r}; choose {known} (or define [profiles.{profile}] in mmsearch.toml)"
    for name, table in profiles.items():
        missing = [k for k in PROFILE_KEYS_REQUIRED if k not in table]
        unknown = [k for k in table if k not in PROFILE_KEYS]
        if missing or unknown:
            return f"profile {name!r}: " + "; ".join(filter(None, [
                f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(unknown)}" if unknown else ""
            ]))
    return None


def _shown(value: Any) -> str:
    if isinstance(value, Secret):
        return "set" if value.get_secret_value() else "unset"
    if value is None:
        return "unset"
    return str(value)


def _problem(name: str, value: Any, load: _Load, msg: str) -> str:
    """One line for an invalid value, naming where it came from; secret inputs are not echoed."""
    where = load.origin(name)
    if name == "weights_overrides" and isinstance(value, dict) and len(value) == 1:
        var = next(iter(value))
        where, name = load.weight_origin(var), f"weights_overrides[{var}]"
    shown = "" if name in SECRETS else f" = {value!r}"
    return f"{name}{shown} (from {where}): {msg}"
