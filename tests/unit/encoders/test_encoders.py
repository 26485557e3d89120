"""Encoder plumbing that needs no model: the fake encoder, the registry, profiles, weights paths,
the optional capabilities' defaults and per-caller batch sizes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from encoders import EncoderError, WeightsNotFoundError, get_encoder
from encoders.base import l2_normalise
from encoders.fake import FakeEncoder
from encoders.profiles import PROFILES, resolve_profile
from encoders.weights import local_weights, mmsearch_home, override_env_var, slug
from tests.conftest import apply_env


def test_fake_encoder_is_deterministic_unit_norm_and_batch_independent():
    enc = get_encoder("fake:16", batch_size=32)
    texts = [f"text {i}" for i in range(70)]
    all_at_once = enc.embed_documents(texts)
    one_by_one = np.concatenate([enc.embed_documents([t]) for t in texts])
    assert all_at_once.shape == (70, 16) and all_at_once.dtype == np.float32
    assert np.allclose(np.linalg.norm(all_at_once, axis=1), 1.0, atol=1e-6)
    assert np.allclose(all_at_once, one_by_one)
    assert not np.allclose(all_at_once[0], all_at_once[1])
    img = Image.new("RGB", (8, 8), (1, 2, 3))
    assert np.allclose(enc.embed_queries([img]), enc.embed_documents([img.copy()]))
    assert enc.embed_documents([]).shape == (0, 16)


def test_registry_shares_instances_and_lists_known_ids_for_unknown():
    assert get_encoder("fake:16") is get_encoder("fake:16")
    assert get_encoder("fake:8").spec.dim == 8
    with pytest.raises(EncoderError) as exc:
        get_encoder("nonsense:model")
    assert "open_clip:ViT-B-32/laion2b_s34b_b79k" in str(exc.value) and "timm:efficientnet_lite0" in str(exc.value)
    with pytest.raises(EncoderError):
        get_encoder("open_clip:No-Such-Model/random")


def test_l2_normalise_leaves_zero_rows_at_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = l2_normalise(x)
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]]) and out.dtype == np.float32


def test_profiles():
    off = PROFILES["offline"]
    assert not off.shared_text_image_space  # label bridge for text, EfficientNet for photos
    assert PROFILES["full"].shared_text_image_space
    assert resolve_profile("offline")[0] is off
    with pytest.raises(EncoderError, match="unknown profile"):
        resolve_profile("fastest")


def test_profile_from_environment(monkeypatch):
    from app.settings import Settings

    monkeypatch.setenv("MMSEARCH_PROFILE", "OFFLINE")
    profile, why = resolve_profile(Settings.load().profile)
    assert profile.name == "offline" and "explicitly" in why


def test_weights_resolution_order(tmp_path, monkeypatch):
    eid = "open_clip:ViT-B-32/laion2b_s34b_b79k"
    env = override_env_var(eid)
    assert env == "MMSEARCH_WEIGHTS_OPEN_CLIP_VIT_B_32_LAION2B_S34B_B79K"
    home = tmp_path / "home"
    apply_env(monkeypatch, MMSEARCH_HOME=str(home))
    assert mmsearch_home() == home
    assert local_weights(eid, "w.bin") is None
    cached = home / "weights" / slug(eid) / "w.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert local_weights(eid, "w.bin") == cached
    explicit = tmp_path / "mine.bin"
    explicit.write_bytes(b"y")
    apply_env(monkeypatch, **{env: str(explicit)})
    assert local_weights(eid, "w.bin") == explicit  # the explicit path wins
    apply_env(monkeypatch, **{env: str(tmp_path / "missing.bin")})
    assert local_weights(eid, "w.bin") is None  # a wrong explicit path is not silently replaced


def test_weights_not_found_message_names_the_fix():
    err = WeightsNotFoundError("open_clip:ViT-B-32/x", "MMSEARCH_WEIGHTS_X")
    assert "mmsearch models pull open_clip:ViT-B-32/x" in str(err) and "MMSEARCH_WEIGHTS_X" in str(err)


# -- optional capabilities: declared on the base class with safe defaults --------------------
def test_base_class_declares_every_optional_capability():
    enc = get_encoder("fake:16")
    assert enc.sample_rate is None and enc.start_offsets_s == (0.0,)
    assert enc.has_tags is False and enc.tags(["x"]) is None
    assert enc.image_encoder is None and enc.classify(["x"]) is None
    assert enc.text_bridge() is None and enc.text_bridge("sentence_transformers:all-MiniLM-L6-v2") is None
    assert enc.pull() is None  # nothing to download
    assert enc.parts() == () and enc.text_tokenizer() is None
    assert enc.embeds_queries_as_documents is True and enc.parameter_bytes() == 0


def test_audio_and_bridge_capabilities_without_weights():
    """PANNs and its tag bridge say what they can do before any weights load."""
    panns = get_encoder("panns:Cnn14/random", "cpu")
    assert panns.sample_rate == 32000 and panns.has_tags and panns.embeds_queries_as_documents
    bridge = panns.text_bridge()
    assert bridge is get_encoder("panns_tags:Cnn14/random+all-MiniLM-L6-v2", "cpu") and bridge.audio_encoder is panns
    assert bridge.has_tags and bridge.sample_rate == 32000 and bridge.text_bridge() is None
    assert not bridge.embeds_queries_as_documents  # queries are texts, documents clips
    assert bridge.parts() == (panns, bridge.text_encoder)
    aisfx = get_encoder("aisfx", "cpu")
    assert aisfx.sample_rate == 44100 and not aisfx.has_tags and aisfx.text_bridge() is None
    assert len(aisfx.start_offsets_s) > 1


def test_label_bridge_exposes_its_image_encoder():
    from encoders.ids import EFFICIENTNET_ID, LABEL_BRIDGE_ID

    bridge = get_encoder(LABEL_BRIDGE_ID, "cpu")
    image = get_encoder(EFFICIENTNET_ID, "cpu")
    assert bridge.image_encoder is image and image.image_encoder is None
    assert bridge.prepare_key == image.prepare_key and bridge.parts()[0] is image


# -- the registry is a table of families ---------------------------------------------------
def test_every_known_id_parses_through_the_family_table():
    from encoders.registry import FAMILIES, KNOWN_IDS

    for eid in KNOWN_IDS:
        family, _, name = eid.partition(":")
        assert family in FAMILIES and FAMILIES[family].parse(name) is not None, eid
    with pytest.raises(EncoderError, match="unknown label bridge 'label_bridge:x'; known: label_bridge:"):
        get_encoder("label_bridge:x")
    for bad in ("timm:efficientnet_b7", "panns:Cnn10", "panns_tags:Cnn14", "aisfx:other", "open_clip:"):
        with pytest.raises(EncoderError, match="Known encoders:"):
            get_encoder(bad)


def test_building_an_encoder_imports_no_heavy_library():
    """Families are imported lazily: listing ids and building the fake encoder load no torch."""
    code = (
        "import sys; from encoders import get_encoder, known_encoder_ids; import encoders.profiles; "
        "known_encoder_ids(); get_encoder('fake:4').embed_documents(['x']); "
        "heavy = [m for m in ('torch', 'open_clip', 'timm', 'sentence_transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=600)


def test_no_encoder_module_imports_the_registry():
    """The registry builds encoders; encoders get others through the `lookup` it hands them."""
    pkg = Path(__file__).resolve().parents[3] / "encoders"
    allowed = {"__init__.py", "registry.py", "profiles.py"}
    for path in sorted(pkg.glob("*.py")):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported = [node.module or ""]
            elif isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            else:
                continue
            assert "encoders.registry" not in imported, f"{path.name} imports the registry"


# -- callers never mutate a shared encoder ------------------------------------------------
class CountingEncoder(FakeEncoder):
    """The fake encoder, counting model loads and the batch sizes it is given."""

    loads = 0
    batches: ClassVar[list[int]] = []

    def _load(self) -> None:
        type(self).loads += 1
        super()._load()

    def _embed_documents_batch(self, items):
        type(self).batches.append(len(items))
        return super()._embed_documents_batch(items)


@pytest.fixture
def counting(monkeypatch):
    """A new family is one table entry: `counting:DIM`, in a registry with an empty cache."""
    from encoders import registry
    from encoders.registry import Build, Family

    monkeypatch.setattr(registry, "_cache", {})
    monkeypatch.setitem(registry.FAMILIES, "counting", Family("counting", f"{__name__}:CountingEncoder", lambda name: Build({"dim": int(name)}), "tests"))
    monkeypatch.setattr(CountingEncoder, "loads", 0)
    monkeypatch.setattr(CountingEncoder, "batches", [])
    return CountingEncoder


def test_callers_get_their_own_batch_size_and_one_model(counting):
    shared = get_encoder("counting:8", "cpu")
    assert isinstance(shared, counting) and shared.spec.dim == 8
    default = shared.batch_size
    small, large = get_encoder("counting:8", "cpu", 3), get_encoder("counting:8", "cpu", 5)
    assert (small.batch_size, large.batch_size, shared.batch_size) == (3, 5, default)
    assert get_encoder("counting:8", "cpu", 3) is small  # one view per size
    assert get_encoder("counting:8", "cpu") is shared and get_encoder("counting:8", "cpu", default) is shared
    assert small.with_batch_size(5) is large and large.with_batch_size(None) is large

    items = [f"item {i}" for i in range(7)]
    a = small.embed_documents(items)  # the view loads first: it loads the shared model
    assert counting.batches == [3, 3, 1]
    b = large.embed_documents(items)
    assert counting.batches[3:] == [5, 2]
    c = shared.embed_documents(items)
    assert counting.loads == 1  # one model for every caller
    assert np.allclose(a, b) and np.allclose(a, c)
    assert shared.batch_size == default and small.batch_size == 3  # nobody changed anybody's


def test_a_view_made_after_loading_shares_the_loaded_model(counting):
    shared = get_encoder("counting:4", "cpu").load()
    view = get_encoder("counting:4", "cpu", 2)
    view.embed_documents(["a", "b", "c"])
    assert counting.loads == 1 and view.weights_source == shared.weights_source


def test_composite_views_batch_their_shared_part_alike():
    """A bridge's view uses the view of its image/audio encoder with the same batch size (the
    object other callers get), so both still share one forward pass per chunk."""
    from encoders.ids import EFFICIENTNET_ID, LABEL_BRIDGE_ID, MINILM_ID

    bridge = get_encoder(LABEL_BRIDGE_ID, "cpu", 8)
    assert bridge.batch_size == 8 and bridge.image_encoder is get_encoder(EFFICIENTNET_ID, "cpu", 8)
    assert bridge.text_encoder is get_encoder(MINILM_ID, "cpu")  # the text side keeps its own
    assert get_encoder(LABEL_BRIDGE_ID, "cpu").image_encoder is get_encoder(EFFICIENTNET_ID, "cpu")

    panns = get_encoder("panns:Cnn14/random", "cpu", 8)
    tags = panns.text_bridge()
    assert tags.batch_size == 8 and tags.audio_encoder is panns
    assert tags is get_encoder("panns_tags:Cnn14/random+all-MiniLM-L6-v2", "cpu", 8)


def test_a_directly_built_panns_bridges_to_itself():
    """Without the registry's lookup, `text_bridge` builds a bridge over this very encoder."""
    from encoders.panns_encoder import PannsEncoder

    enc = PannsEncoder(pretrained=False, device="cpu")
    bridge = enc.text_bridge("sentence_transformers:all-MiniLM-L6-v2")
    assert bridge.audio_encoder is enc and bridge.spec.id == "panns_tags:Cnn14/random+all-MiniLM-L6-v2"


def test_photos_decode_for_the_largest_model_input_of_a_run():
    """Each encoder says the side of its image input (from open_clip's own config, without
    loading weights), and a run's photos keep the largest (`decode_side`)."""
    from encoders.open_clip_encoder import OpenClipEncoder
    from indexers.model_inputs import decode_side

    # built here, not taken from the registry's cache (another test may have loaded those)
    clip = OpenClipEncoder("ViT-B-32", None, device="cpu")
    siglip_384 = OpenClipEncoder("ViT-B-16-SigLIP-384", None, device="cpu")
    resnet = get_encoder("torchvision:resnet50/random", "cpu")
    assert (clip.image_side, siglip_384.image_side, resnet.image_side) == (224, 384, 224)
    assert decode_side([clip, resnet]) == 224
    assert decode_side([clip, siglip_384, resnet]) == 384
    assert clip._model is None and siglip_384._model is None  # nothing was loaded
