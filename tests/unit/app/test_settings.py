"""app.settings: one Settings object from flags > environment > TOML file > defaults, and where each value came from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import (
    DEFAULT_DB,
    DEFAULT_MAX_PIXELS,
    Settings,
    SettingsError,
    weights_env_var,
)

CLIP_ID = "open_clip:ViT-B-32/laion2b_s34b_b79k"
CLIP_VAR = "MMSEARCH_WEIGHTS_OPEN_CLIP_VIT_B_32_LAION2B_S34B_B79K"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without mmsearch.toml and an empty MMSEARCH_HOME, so no file is found."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    h = tmp_path / "home"
    h.mkdir()
    return h


def load(home: Path, env: dict[str, str] | None = None, **kwargs) -> Settings:
    return Settings.load(environ={"MMSEARCH_HOME": str(home), **(env or {})}, **kwargs)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- defaults and precedence -----------------------------------------------------------------
def test_defaults_when_nothing_is_set(home: Path):
    s = load(home)
    assert s.db == DEFAULT_DB
    assert not s.db_is_server
    assert s.device == "auto"
    assert s.profile == "auto"
    assert s.max_pixels == DEFAULT_MAX_PIXELS
    assert s.max_audio_seconds == 3600.0
    assert s.llm == "auto"
    assert s.llm_api_key is None
    assert s.ollama_host == "http://127.0.0.1:11434"
    assert s.weights_overrides == {}
    assert s.config_file is None
    sources = s.sources()
    assert sources["home"] == "env MMSEARCH_HOME"
    assert {v for k, v in sources.items() if k != "home"} == {"default"}


def test_default_home_is_the_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    s = Settings.load(environ={})
    assert s.home == tmp_path / ".cache" / "mmsearch"
    assert s.sources()["home"] == "default"


def test_calibration_defaults_to_a_file_in_home(home: Path):
    assert load(home).calibration == home / "calibration.json"
    assert load(home, {"MMSEARCH_CALIBRATION": "/x/cal.json"}).calibration == Path("/x/cal.json")


def test_environment_overrides_a_default(home: Path):
    s = load(home, {"MMSEARCH_DEVICE": "cpu", "MMSEARCH_MAX_PIXELS": "2500", "MMSEARCH_PROFILE": "Offline"})
    assert (s.device, s.max_pixels, s.profile) == ("cpu", 2500, "offline")
    assert s.sources()["device"] == "env MMSEARCH_DEVICE"
    assert s.sources()["max_pixels"] == "env MMSEARCH_MAX_PIXELS"


def test_an_empty_variable_counts_as_unset(home: Path):
    s = load(home, {"MMSEARCH_DEVICE": "", "MMSEARCH_DB": ""})
    assert (s.device, s.db) == ("auto", DEFAULT_DB)
    assert s.sources()["db"] == "default"


def test_toml_file_is_below_the_environment(home: Path, tmp_path: Path):
    cfg = write_toml(tmp_path / "mm.toml", 'db = "data/x.db"\ndevice = "cpu"\nmax_audio_seconds = 60\n')
    s = load(home, {"MMSEARCH_DEVICE": "cuda"}, toml_path=cfg)
    assert s.db == "data/x.db"
    assert s.sources()["db"] == f"file {cfg}"
    assert s.max_audio_seconds == 60.0
    assert s.device == "cuda"
    assert s.sources()["device"] == "env MMSEARCH_DEVICE"
    assert s.config_file == cfg


def test_flag_override_is_above_the_environment(home: Path):
    s = load(home, {"MMSEARCH_DB": "env.db", "MMSEARCH_DEVICE": "cpu"}, overrides={"db": "flag.db", "device": None})
    assert s.db == "flag.db"
    assert s.sources()["db"] == "flag"
    assert s.device == "cpu", "a flag left at None does not override"
    assert s.sources()["device"] == "env MMSEARCH_DEVICE"


def test_an_unknown_override_is_an_error(home: Path):
    with pytest.raises(SettingsError, match="datbase"):
        load(home, overrides={"datbase": "x.db"})


# -- the database --------------------------------------------------------------------------
def test_milvus_uri_set_to_a_db_path_is_a_lite_database(home: Path):
    s = load(home, {"MILVUS_URI": "./data/my.db"})
    assert s.db == "./data/my.db"
    assert s.sources()["db"] == "env MILVUS_URI"
    assert not s.db_is_server
    assert s.thumbs_dir() == Path("./data/thumbs")


def test_mmsearch_db_wins_over_milvus_uri(home: Path):
    s = load(home, {"MMSEARCH_DB": "a.db", "MILVUS_URI": "http://milvus:19530"})
    assert s.db == "a.db"
    assert s.sources()["db"] == "env MMSEARCH_DB"


def test_a_server_uri_is_a_server(home: Path):
    s = load(home, {"MILVUS_URI": "http://localhost:19530", "MILVUS_TOKEN": "root:Milvus"})
    assert s.db_is_server
    assert s.thumbs_dir() == home / "thumbs"
    assert s.milvus_token is not None and s.milvus_token.get_secret_value() == "root:Milvus"


def test_a_uri_with_another_scheme_is_one_clear_error(home: Path):
    with pytest.raises(SettingsError) as e:
        load(home, {"MILVUS_URI": "localhost:19530"})
    assert "env MILVUS_URI" in str(e.value)
    assert "http://" in str(e.value)


def test_thumbs_default_beside_a_lite_db_else_in_home(home: Path):
    s = load(home, {"MMSEARCH_DB": "data/a.db"})
    assert s.thumbs_dir() == Path("data/thumbs")
    assert s.thumbs_dir("/srv/b.db") == Path("/srv/thumbs")
    assert s.thumbs_dir("https://milvus:19530") == home / "thumbs"


def test_thumbs_folder_override(home: Path, tmp_path: Path):
    s = load(home, {"MMSEARCH_THUMBS": str(tmp_path / "t")})
    assert s.thumbs_dir() == tmp_path / "t"
    assert s.thumbs_dir("other/x.db") == tmp_path / "t"


# -- secrets ------------------------------------------------------------------------------
def test_api_key_never_appears_in_describe_or_repr(home: Path):
    s = load(home, {"OPENAI_API_KEY": "sk-secret-123", "MILVUS_TOKEN": "root:hunter2"})
    shown = repr(s.describe()) + repr(s) + str(s) + repr(s.sources())
    assert "sk-secret-123" not in shown
    assert "hunter2" not in shown
    rows = {name: (value, source) for name, value, source in s.describe()}
    assert rows["llm_api_key"] == ("set", "env OPENAI_API_KEY")
    assert rows["milvus_token"] == ("set", "env MILVUS_TOKEN")
    assert s.llm_api_key is not None and s.llm_api_key.get_secret_value() == "sk-secret-123"


def test_an_unset_key_is_shown_as_unset(home: Path):
    rows = {name: (value, source) for name, value, source in load(home).describe()}
    assert rows["llm_api_key"] == ("unset", "default")


def test_mmsearch_llm_variables_win_over_openai_ones(home: Path):
    s = load(
        home,
        {
            "OPENAI_API_KEY": "k1",
            "MMSEARCH_LLM_API_KEY": "k2",
            "OPENAI_BASE_URL": "http://a/v1",
            "MMSEARCH_LLM_URL": "http://b/v1",
        },
    )
    assert s.llm_api_key is not None and s.llm_api_key.get_secret_value() == "k2"
    assert s.llm_url == "http://b/v1"
    assert s.sources()["llm_url"] == "env MMSEARCH_LLM_URL"
    assert load(home, {"OPENAI_BASE_URL": "http://a/v1"}).sources()["llm_url"] == "env OPENAI_BASE_URL"


def test_an_invalid_secret_is_not_echoed_in_the_error(home: Path, tmp_path: Path):
    cfg = write_toml(tmp_path / "mm.toml", "llm_api_key = 12345678\n")
    with pytest.raises(SettingsError) as e:
        load(home, toml_path=cfg)
    assert "llm_api_key" in str(e.value)
    assert "12345678" not in str(e.value)


def test_device_accepts_a_cuda_index_and_rejects_others(home: Path):
    assert load(home, {"MMSEARCH_DEVICE": "CUDA:1"}).device == "cuda:1"
    with pytest.raises(SettingsError, match="env MMSEARCH_DEVICE"):
        load(home, {"MMSEARCH_DEVICE": "gpu"})


def test_ollama_host_as_host_port_gets_a_scheme(home: Path):
    s = load(home, {"OLLAMA_HOST": "gpu-box:11434"})
    assert s.ollama_host == "http://gpu-box:11434"
    assert s.sources()["ollama_host"] == "env OLLAMA_HOST"


# -- weights overrides ---------------------------------------------------------------------
def test_weights_env_var_is_named_as_encoders_weights_names_it():
    assert weights_env_var(CLIP_ID) == CLIP_VAR
    assert weights_env_var("panns:cnn14") == "MMSEARCH_WEIGHTS_PANNS_CNN14"


def test_weights_overrides_by_encoder_id(home: Path, tmp_path: Path):
    s = load(home, {CLIP_VAR: str(tmp_path / "clip.bin")})
    assert s.weights_override(CLIP_ID) == tmp_path / "clip.bin"
    assert s.weights_override("panns:cnn14") is None
    assert s.weights_overrides == {CLIP_VAR: tmp_path / "clip.bin"}
    rows = {name: (value, source) for name, value, source in s.describe()}
    assert rows[f"weights_overrides[{CLIP_VAR}]"] == (str(tmp_path / "clip.bin"), f"env {CLIP_VAR}")


def test_weights_overrides_in_the_file_are_keyed_by_encoder_id_and_below_the_environment(home: Path, tmp_path: Path):
    cfg = write_toml(
        tmp_path / "mm.toml",
        f'[weights_overrides]\n"{CLIP_ID}" = "/file/clip.bin"\n"panns:cnn14" = "/file/panns.pth"\n',
    )
    s = load(home, {"MMSEARCH_WEIGHTS_PANNS_CNN14": "/env/panns.pth"}, toml_path=cfg)
    assert s.weights_override(CLIP_ID) == Path("/file/clip.bin")
    assert s.weights_override("panns:cnn14") == Path("/env/panns.pth")
    rows = {name: source for name, _, source in s.describe()}
    assert rows[f"weights_overrides[{CLIP_VAR}]"] == f"file {cfg}"
    assert rows["weights_overrides[MMSEARCH_WEIGHTS_PANNS_CNN14]"] == "env MMSEARCH_WEIGHTS_PANNS_CNN14"


# -- the TOML file -------------------------------------------------------------------------
def test_a_malformed_toml_file_is_a_clear_error_naming_the_file(home: Path, tmp_path: Path):
    cfg = write_toml(tmp_path / "broken.toml", 'db = "unterminated\n')
    with pytest.raises(SettingsError) as e:
        load(home, toml_path=cfg)
    assert str(cfg) in str(e.value)
    assert "TOML" in str(e.value)


def test_an_unknown_key_in_the_file_is_an_error_naming_file_and_key(home: Path, tmp_path: Path):
    cfg = write_toml(tmp_path / "mm.toml", 'devcie = "cpu"\n')
    with pytest.raises(SettingsError, match="devcie") as e:
        load(home, toml_path=cfg)
    assert str(cfg) in str(e.value)


def test_an_invalid_value_names_where_it_came_from(home: Path, tmp_path: Path):
    with pytest.raises(SettingsError, match="env MMSEARCH_MAX_PIXELS"):
        load(home, {"MMSEARCH_MAX_PIXELS": "lots"})
    cfg = write_toml(tmp_path / "mm.toml", 'device = "gpu"\n')
    with pytest.raises(SettingsError, match=f"file {cfg}"):
        load(home, toml_path=cfg)


def test_numbers_are_checked_by_type_and_range(home: Path, tmp_path: Path):
    assert load(home, {"MMSEARCH_MAX_AUDIO_SECONDS": " 90.5 "}).max_audio_seconds == 90.5
    with pytest.raises(SettingsError) as e:
        load(home, {"MMSEARCH_MAX_PIXELS": "0", "MMSEARCH_UPLOAD_MAX_MB": "big"})
    assert str(e.value).splitlines()[1:] == [
        "  max_pixels = '0' (from env MMSEARCH_MAX_PIXELS): should be greater than 0",
        "  upload_max_mb = 'big' (from env MMSEARCH_UPLOAD_MAX_MB): should be a number",
    ]
    cfg = write_toml(tmp_path / "mm.toml", "max_pixels = 2.5\nembed_batch_size = true\n")
    with pytest.raises(SettingsError) as e:
        load(home, toml_path=cfg)
    assert "max_pixels = 2.5" in str(e.value) and "embed_batch_size = True" in str(e.value)
    assert str(e.value).count("should be a whole number") == 2


def test_a_bad_flag_is_marked_as_one(home: Path):
    with pytest.raises(SettingsError) as e:
        load(home, overrides={"device": "gpu"})
    assert e.value.from_flag and "device = 'gpu' (from flag)" in str(e.value)
    with pytest.raises(SettingsError) as e:
        load(home, {"MMSEARCH_DEVICE": "gpu"}, overrides={"db": "x.db"})
    assert not e.value.from_flag


def test_the_file_is_mmsearch_config_then_the_working_directory_then_home(home: Path, tmp_path: Path):
    write_toml(home / "config.toml", 'llm = "extractive"\n')
    assert load(home).llm == "extractive"
    assert load(home).config_file == home / "config.toml"

    local = write_toml(Path("mmsearch.toml"), 'llm = "ollama"\n')
    assert load(home).llm == "ollama"
    assert load(home).config_file == local.resolve()

    explicit = write_toml(tmp_path / "explicit.toml", 'llm = "openai:gpt-4o-mini"\n')
    s = load(home, {"MMSEARCH_CONFIG": str(explicit)})
    assert s.llm == "openai:gpt-4o-mini"
    assert s.sources()["llm"] == f"file {explicit}"
    assert s.describe()[0] == ("config_file", str(explicit), "env MMSEARCH_CONFIG")


def test_a_missing_explicit_file_is_an_error(home: Path, tmp_path: Path):
    with pytest.raises(SettingsError, match="MMSEARCH_CONFIG"):
        load(home, {"MMSEARCH_CONFIG": str(tmp_path / "nope.toml")})
    with pytest.raises(SettingsError, match="nope.toml"):
        load(home, toml_path=tmp_path / "nope.toml")


# -- passing settings on ---------------------------------------------------------------------
def test_settings_without_arguments_read_os_environ(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MMSEARCH_HOME", str(home))
    monkeypatch.setenv("MMSEARCH_DB", "from-os.db")
    s = Settings()
    assert s.db == "from-os.db"
    assert s.sources()["db"] == "env MMSEARCH_DB"


def test_settings_are_immutable(home: Path):
    s = load(home)
    with pytest.raises(AttributeError, match="frozen"):
        s.db = "other.db"  # type: ignore[misc]
    assert s.db == DEFAULT_DB
    changed = s.replace(db="other.db")
    assert (changed.db, changed.sources()["db"], s.db) == ("other.db", "set in code", DEFAULT_DB)
    with pytest.raises(ValueError, match="neither a local path"):
        s.replace(db="ftp://x")


def test_to_environ_rebuilds_the_same_settings_in_a_child(home: Path, tmp_path: Path):
    cfg = write_toml(tmp_path / "mm.toml", 'profile = "offline"\n')
    s = load(
        home,
        {"MILVUS_URI": "http://m:19530", "OPENAI_API_KEY": "sk-1", CLIP_VAR: "/w/clip.bin"},
        overrides={"device": "cpu"},
        toml_path=cfg,
    )
    env = s.to_environ()
    assert env["MMSEARCH_DB"] == "http://m:19530"
    assert env["MMSEARCH_DEVICE"] == "cpu"
    assert env["MMSEARCH_LLM_API_KEY"] == "sk-1"
    child = Settings.load(environ=env)
    assert child.as_dict() == s.as_dict() and child == s


def test_importing_settings_is_cheap():
    code = (
        "import sys, app.settings; "
        "heavy = {'torch', 'numpy', 'pymilvus', 'pydantic', 'pydantic_settings'} & set(sys.modules); "
        "ours = [m for m in sys.modules if m.split('.')[0] in ('indexers', 'encoders', 'milvus')]; "
        "assert not heavy and not ours, (heavy, ours)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


def test_defaults_and_thumbnail_place_agree_with_the_layers_that_use_them(tmp_path: Path):
    """app.settings keeps its own copies of a few defaults (it imports none of our packages, so
    the CLI starts fast); they must say what the layers below say."""
    from app.context import apply_settings
    from app.settings import weights_env_var
    from encoders.transcribe import DEFAULT_TRANSCRIBER as transcriber
    from encoders.weights import override_env_var
    from indexers import config
    from indexers.thumbs import thumbs_dir
    from milvus.store import DEFAULT_LITE_PATH

    s = Settings.load(environ={"MMSEARCH_HOME": str(tmp_path)})
    assert (s.db, s.transcriber) == (DEFAULT_LITE_PATH, transcriber)
    assert (s.max_pixels, s.max_audio_seconds) == (config.DEFAULT_MAX_PIXELS, config.DEFAULT_MAX_AUDIO_SECONDS)
    apply_settings(s)  # the conftest re-applies the session's settings afterwards
    for db in ("./data/a.db", str(tmp_path / "b.db"), "http://milvus:19530"):
        assert thumbs_dir(db) == s.thumbs_dir(db)
    for eid in ("open_clip:ViT-B-32/laion2b_s34b_b79k", "panns:Cnn14", "sentence_transformers:all-MiniLM-L6-v2@256"):
        assert weights_env_var(eid) == override_env_var(eid)


def test_speech_languages_reach_the_transcriber_and_an_english_model_refuses_others():
    from app.context import Context
    from encoders.base import EncoderError

    s = Settings.load(environ={"MMSEARCH_SPEECH_LANGUAGES": "KO, en", "MMSEARCH_TRANSCRIBER": "faster-whisper:base"})
    assert s.speech_languages == ["ko", "en"]
    assert Settings.load(environ=s.to_environ()).speech_languages == ["ko", "en"]
    assert Context(s).transcriber().languages == ("ko", "en")  # built lazily: no model loads here
    with pytest.raises(EncoderError, match="only understands English"):
        Context(Settings.load(environ={"MMSEARCH_SPEECH_LANGUAGES": "ko"})).transcriber()


def test_server_settings_library_roots_and_uploads_place(tmp_path):
    s = Settings.load(environ={"MMSEARCH_LIBRARY_ROOTS": f"{tmp_path}/a{os.pathsep}{tmp_path}/b", "MMSEARCH_DB": str(tmp_path / "x.db")})
    assert s.library_roots == [tmp_path / "a", tmp_path / "b"]
    assert s.uploads_dir() == tmp_path / "uploads"
    assert Settings.load(environ={"MMSEARCH_DB": "http://h:19530", "MMSEARCH_HOME": str(tmp_path)}).uploads_dir() == tmp_path / "uploads"
    assert Settings.load(environ=s.to_environ()).library_roots == s.library_roots


def test_to_environ_leaves_out_what_only_the_file_can_set(home: Path, tmp_path: Path):
    """Profiles live only in the TOML file (no variable): a child reads them from the same file."""
    cfg = write_toml(
        tmp_path / "mm.toml",
        '[profiles.mine]\nimage_encoders = ["fake:16"]\ntext_to_image = "fake:16"\nimage_to_image = "fake:16"\ntext = "fake:16"\n',
    )
    s = load(home, toml_path=cfg)
    assert s.sources()["profiles"] == f"file {cfg}" and "mine" in s.profiles
    assert not any("PROFILES" in var for var in s.to_environ(include_defaults=True))
