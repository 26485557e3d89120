"""The `mmsearch` CLI through `app.cli.main([...])`: output contracts and exit codes.

Every test that indexes or searches uses the `fake_profile` fixture, which defines the profiles
offline, full and auto in a settings file (`[profiles.NAME]`, through MMSEARCH_CONFIG) as the
`fake:16` encoder: no real model is loaded, the CLI code paths are the real ones.
"""

from __future__ import annotations

import json

import pytest

from app.cli.main import main
from app.search.hits import JSON_FIELDS

JSON_KEYS = {"id", "score", "source", "kind", "title", "price", "start_s", "end_s", "text"}
# Catalogue searches add these two (null elsewhere); nothing else may appear.
CATALOGUE_KEYS = {"saving", "saving_pct"}


def _stderr_lines(captured) -> list[str]:
    return [line for line in captured.err.splitlines() if line.strip()]


@pytest.fixture
def indexed_db(fake_profile, make_images, tmp_db, capsys):
    """A Lite db holding 6 small PNGs, indexed through the CLI with the fake profile."""
    folder = make_images(6)
    code = main(["index", "images", str(folder), "--db", tmp_db, "--profile", "offline", "-q", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == 6 and report["skipped"] == [] and report["collections"] == ["image__fake_16"]
    return tmp_db, folder


def test_index_json_report_and_reindex(indexed_db, capsys):
    db, folder = indexed_db
    assert main(["index", "images", str(folder), "--db", db, "--profile", "offline", "-q", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["indexed"], report["unchanged"]) == (0, 6)


def test_index_human_summary_goes_to_stderr(fake_profile, make_images, tmp_db, capsys):
    folder = make_images(2)
    (folder / "bad.jpg").write_text("not a jpeg")
    assert main(["index", "images", str(folder), "--db", tmp_db, "--profile", "offline", "-q"]) == 0
    out = capsys.readouterr()
    assert out.out == ""
    assert "2 indexed" in out.err and "skipped" in out.err and "bad.jpg" in out.err


def test_index_only_missing_paths_exits_1(fake_profile, tmp_path, tmp_db, capsys):
    code = main(["index", "images", str(tmp_path / "nope"), "--db", tmp_db, "--profile", "offline", "-q"])
    assert code == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_search_text_json_contract(indexed_db, capsys):
    db, _ = indexed_db
    assert main(["search", "text", "red things", "--db", db, "--profile", "offline", "--json", "-k", "4"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # one JSON document on one line
    hits = json.loads(out)
    assert isinstance(hits, list) and len(hits) == 4
    for h in hits:
        assert JSON_KEYS <= set(h) <= JSON_KEYS | CATALOGUE_KEYS
        assert all(h[k] is None for k in CATALOGUE_KEYS & set(h))
        assert isinstance(h["score"], float) and -1.0001 <= h["score"] <= 1.0001
        assert h["kind"] == "image" and h["source"].endswith(".png")
        assert h["price"] is None and h["start_s"] is None and h["end_s"] is None
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert JSON_KEYS <= set(JSON_FIELDS) <= JSON_KEYS | CATALOGUE_KEYS  # the library's contract is the CLI's


def test_search_image_finds_itself_first(indexed_db, capsys):
    db, folder = indexed_db
    target = folder / "img_03.png"
    assert main(["search", "image", str(target), "--db", db, "--profile", "offline", "--json", "-k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["source"] == str(target.resolve())
    assert hits[0]["title"] == "img_03"
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[1]["score"] < 0.99


def test_search_text_plain_output(indexed_db, capsys):
    db, _ = indexed_db
    assert main(["search", "text", "anything", "--db", db, "--profile", "offline", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].lstrip().startswith("1.") and lines[1].lstrip().startswith("2.")


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_empty_query_exits_1_with_one_line(fake_profile, tmp_db, capsys, query):
    assert main(["search", "text", query, "--db", tmp_db, "--profile", "offline"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    (line,) = _stderr_lines(out)
    assert line.startswith("mmsearch: error:") and "type something" in line


def test_missing_query_file_exits_1_with_one_line(fake_profile, tmp_path, tmp_db, capsys):
    missing = tmp_path / "no-such-photo.jpg"
    assert main(["search", "image", str(missing), "--db", tmp_db, "--profile", "offline"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    (line,) = _stderr_lines(out)
    assert line.startswith("mmsearch: error:") and str(missing) in line


def test_query_file_that_is_not_an_image_exits_1(fake_profile, indexed_db, tmp_path, capsys):
    db, _ = indexed_db
    bad = tmp_path / "fake.jpg"
    bad.write_text("hello")
    assert main(["search", "image", str(bad), "--db", db, "--profile", "offline"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert _stderr_lines(out)[-1].startswith("mmsearch: error: not an image")


def test_search_before_indexing_exits_1_and_says_what_to_do(fake_profile, tmp_db, capsys):
    assert main(["search", "text", "a cat", "--db", tmp_db, "--profile", "offline"]) == 1
    err = _stderr_lines(capsys.readouterr())
    assert err[-1].startswith("mmsearch: error: nothing is indexed yet") and "mmsearch index images" in err[-1]
    assert len(err) <= 2  # at most the profile note and the error


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["search"],
        ["search", "text"],
        ["search", "text", "cat", "-k", "0"],
        ["search", "text", "cat", "-k", "1001"],
        ["search", "text", "cat", "-k", "ten"],
        ["search", "text", "cat", "--profile", "bogus"],
        ["search", "text", "cat", "--no-such-flag"],
        ["index", "images"],
        ["index", "no-such-kind", "x"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out = capsys.readouterr()
    assert out.out == "" and "usage:" in out.err


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "index" in capsys.readouterr().out


def test_db_defaults_to_mmsearch_db_env(fake_profile, make_images, tmp_db, monkeypatch, capsys):
    monkeypatch.setenv("MMSEARCH_DB", tmp_db)
    folder = make_images(2)
    assert main(["index", "images", str(folder), "--profile", "offline", "-q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 2
    from milvus import VectorStore

    assert VectorStore(tmp_db).find("image", "fake:16").count() == 2


def test_models_list_names_the_known_encoders(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "open_clip:ViT-B-32/laion2b_s34b_b79k" in out and "timm:efficientnet_lite0" in out
    line = next(x for x in out.splitlines() if x.startswith("fake:16"))
    assert "dim 16" in line and "available" in line


def test_milvus_uri_may_name_a_lite_file_and_doctor_says_where_each_setting_came_from(tmp_path):
    """`MILVUS_URI=./data/my.db mmsearch …` works in a fresh process (pymilvus never sees the
    path at import), and `doctor` lists the effective settings with their sources."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[4]
    (tmp_path / "mmsearch.toml").write_text('device = "cpu"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("MMSEARCH_DB", "MMSEARCH_DEVICE", "MMSEARCH_CONFIG")}
    env.update(MILVUS_URI="./data/my.db", PYTHONPATH=str(repo))
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "doctor", "--profile", "offline"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert rows["db"][0] == "./data/my.db" and rows["db"][-2:] == ["env", "MILVUS_URI"]
    assert rows["device"][0] == "cpu" and rows["device"][1] == "file"  # from ./mmsearch.toml
    assert rows["profile"] == ["offline", "flag"]
    assert (tmp_path / "data" / "my.db").exists()
