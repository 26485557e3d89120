"""`mmsearch serve` as a user and another program meet it: a real server process on loopback with
the offline models and a Milvus Lite file; the HTTP API, uploads and background jobs, the CLI
alongside, the token, confinement of paths, and SIGTERM."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from app.search.hits import JSON_FIELDS
from tests.server_process import REPO, group_alive, mmsearch_server, port_is_free

pytestmark = pytest.mark.slow

TOKEN = "test-token-" + uuid.uuid4().hex[:8]
JOB_TIMEOUT_S = 600.0


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body with `fields` and `files` (all under the name "files")."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for name, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                  "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def wait_job(server, job_id: str) -> dict:
    """Poll a job until it is no longer queued or running (bounded generously)."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status, job = server.request("GET", f"/api/jobs/{job_id}")
        assert status == 200, job
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}\n{server.log()}")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=600)


@pytest.fixture(scope="module")
def library(tmp_path_factory, sample_photos: Path) -> Path:
    """The library root the server may index by path, with photos and a link that points outside."""
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(sample_photos, root / "photos")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.jpg").write_bytes((sample_photos / sorted(os.listdir(sample_photos))[0]).read_bytes())
    (root / "linked").mkdir()
    (root / "linked" / "escape.jpg").symlink_to(outside / "secret.jpg")
    (root / "linked" / "fine.jpg").write_bytes((sample_photos / sorted(os.listdir(sample_photos))[1]).read_bytes())
    (root / "outside-dir").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, library: Path):
    db = str(tmp_path_factory.mktemp("served") / "lib.db")
    env = {"MMSEARCH_PROFILE": "offline", "MMSEARCH_API_TOKEN": TOKEN, "MMSEARCH_LIBRARY_ROOTS": str(library),
           "MMSEARCH_UPLOAD_MAX_MB": "1"}
    with mmsearch_server(db, env) as s:
        s.db = db
        yield s


def test_health_models_and_openapi_page(server):
    status, health = server.request("GET", "/api/health")
    assert status == 200 and health["status"] == "ok" and health["db"] == server.db
    status, models = server.request("GET", "/api/models")
    assert status == 200 and models["profile"] == "offline" and models["image_encoders"]
    status, spec = server.request("GET", "/api/openapi.json")
    assert status == 200
    for path in ("/search/text", "/search/image", "/search/audio", "/items/{item_id}/similar", "/video/moments", "/ask",
                 "/jobs", "/jobs/upload", "/jobs/{job_id}", "/sources", "/health", "/models"):
        assert path in spec["paths"], path
    status, page = server.request("GET", "/api/docs")
    assert status == 200 and "swagger" in page.lower()


def test_token_is_required_for_the_api_and_the_app(server):
    assert server.request("GET", "/api/health", token=None)[0] == 401
    assert server.request("GET", "/api/health", token="wrong")[0] == 401
    status, page = server.request("GET", "/", token=None)
    assert status == 401 and "token" in page
    assert server.request("GET", "/api/health", token=None, headers={"Cookie": f"mmsearch_token={TOKEN}"})[0] == 200
    # the app's first page takes ?token= and hands the browser a cookie for its other requests
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/?token={TOKEN}", timeout=600) as r:
        assert r.status == 200 and f"mmsearch_token={TOKEN}" in r.headers.get("set-cookie", "")


def test_upload_index_then_search(server, sample_photos: Path):
    names = sorted(os.listdir(sample_photos))[:4]
    files = [(n, (sample_photos / n).read_bytes()) for n in names]
    files += [("notes.txt", b"not a photo"), ("broken.jpg", b"\xff\xd8 truncated"), ("huge.png", b"\x89PNG" + b"0" * 1_200_000)]
    body, headers = multipart({"kind": "images"}, files)
    status, job = server.request("POST", "/api/jobs/upload", raw=body, headers=headers)
    assert status == 202, job
    done = wait_job(server, job["id"])
    assert done["state"] == "done", done
    skipped = {row["path"]: row["reason"] for row in done["skipped"]}
    assert done["indexed"] + done["unchanged"] == 4, done
    assert "not a images file" in skipped["notes.txt"]
    assert "upload limit" in skipped["huge.png"]
    assert any(p.endswith("broken.jpg") for p in skipped), skipped

    # the upload is searchable by words and by the same photo; hits carry the CLI's --json keys
    status, answer = server.request("POST", "/api/search/text", {"q": Path(names[0]).stem.replace("_", " "), "kind": "image", "k": 5})
    assert status == 200 and answer["hits"] and set(answer["hits"][0]) == set(JSON_FIELDS)
    body, headers = _one_file(names[1], (sample_photos / names[1]).read_bytes(), {"k": "3"})
    status, answer = server.request("POST", "/api/search/image", raw=body, headers=headers)
    assert status == 200 and Path(answer["hits"][0]["source"]).name == names[1] and answer["hits"][0]["score"] > 0.99


def _one_file(name: str, data: bytes, fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body, headers = multipart(fields, [(name, data)])
    return body.replace(b'name="files"', b'name="file"'), headers


def test_folder_jobs_are_confined_to_the_library_roots(server, library: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    sibling = library.parent / f"sibling-{uuid.uuid4().hex[:6]}"
    sibling.mkdir()
    for path in (str(outside), f"{library}/../{sibling.name}", "/etc", "relative/path", str(library / "outside-dir")):
        status, answer = server.request("POST", "/api/jobs", {"kind": "images", "paths": [path]})
        assert status == 400, (path, answer)
        assert "outside the library folders" in answer["detail"] or "absolute path" in answer["detail"], answer
    # a folder inside the roots is indexed, but a link in it that points outside is skipped
    status, job = server.request("POST", "/api/jobs", {"kind": "images", "paths": [str(library / "linked")]})
    assert status == 202, job
    done = wait_job(server, job["id"])
    assert done["state"] == "done"
    reasons = {Path(r["path"]).name: r["reason"] for r in done["skipped"]}
    assert "outside the library folders" in reasons.get("escape.jpg", ""), done
    status, answer = server.request("POST", "/api/search/text", {"q": "x", "kind": "image", "k": 100})
    assert not any("secret" in (h["source"] or "") for h in answer["hits"])


def test_the_cli_alongside_goes_through_the_server(server, library: Path, sample_photos: Path):
    # the server holds the Lite file: the CLI still works, through the server, with no set-up
    result = cli("index", "images", str(library / "photos"), "--db", server.db, "--json", "-q")
    assert result.returncode == 0, result.stderr
    assert "through the server" in result.stderr
    report = json.loads(result.stdout)
    assert report["indexed"] + report["unchanged"] >= len(os.listdir(sample_photos)) - 1
    result = cli("search", "text", "a butterfly", "--db", server.db, "--json", "--min-score", "none", "-k", "3")
    assert result.returncode == 0, result.stderr
    assert "through the server" in result.stderr
    hits = json.loads(result.stdout)
    status, answer = server.request("POST", "/api/search/text", {"q": "a butterfly", "kind": "image", "k": 3})
    assert [h["id"] for h in hits] == [h["id"] for h in answer["hits"]]
    assert "butterfly" in (hits[0]["source"] or "").lower() or "butterfly" in (hits[0]["title"] or "").lower()


def test_remove_a_source(server, library: Path):
    status, job = server.request("POST", "/api/jobs", {"kind": "images", "paths": [str(library / "photos")]})
    wait_job(server, job["id"])
    status, answer = server.request("POST", "/api/search/text", {"q": "a photo", "kind": "image", "k": 200})
    # an item keeps the path it was first indexed from (ids are content hashes): take one from the folder
    source = next(h["source"] for h in answer["hits"] if h["source"].startswith(str(library.resolve() / "photos")))
    status, answer = server.request("DELETE", "/api/sources?source=" + source)
    assert status == 200 and answer["removed"] >= 1, answer
    status, answer = server.request("POST", "/api/search/text", {"q": "a photo", "kind": "image", "k": 200})
    assert source not in {h["source"] for h in answer["hits"]}
    assert server.request("DELETE", "/api/sources?source=" + source)[0] == 404


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path):
    result = cli("serve", "--db", str(tmp_path / "x.db"), "--host", "0.0.0.0", "--port", "1",
                 env={"MMSEARCH_API_TOKEN": "", "MMSEARCH_PROFILE": "offline"})
    assert result.returncode != 0
    assert "set a token first" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_sigterm_stops_everything_and_an_interrupted_job_resumes(tmp_path: Path, photos_dir: Path):
    from milvus import VectorStore
    from milvus.client import close

    db = str(tmp_path / "lib.db")
    env = {"MMSEARCH_PROFILE": "offline", "MMSEARCH_LIBRARY_ROOTS": str(photos_dir), "MMSEARCH_FAILPOINT": "batch-stored"}
    with mmsearch_server(db, env) as s:
        status, job = s.request("POST", "/api/jobs", {"kind": "images", "paths": [str(photos_dir)]})
        assert status == 202
        assert s.wait_for("failpoint batch-stored reached"), s.log()  # part-way: one batch stored
        pgid = s.proc.pid
        assert s.stop() == 0, s.log()
        assert not group_alive(pgid), "a child of the server outlived SIGTERM"
        assert port_is_free(s.port)
        assert "mmsearch: stopped" in s.log()
    assert not Path(db + ".server.json").exists()
    store = VectorStore(db)  # the file is free: another process opens it
    part = sum(store.find(i.kind, i.encoder).count() for i in store.list_collections())
    close(db)
    assert part > 0

    with mmsearch_server(db, {"MMSEARCH_PROFILE": "offline", "MMSEARCH_LIBRARY_ROOTS": str(photos_dir)}) as s:
        done = wait_job(s, job["id"])  # picked up again on start
        assert done["state"] == "done" and done["resumed"] >= 1, done
        s.stop()
    clean_db = str(tmp_path / "clean.db")
    result = cli("index", "images", str(photos_dir), "--db", clean_db, "--json", "-q", env={"MMSEARCH_PROFILE": "offline"})
    assert result.returncode == 0, result.stderr

    def ids(uri: str) -> list[str]:
        store = VectorStore(uri)
        try:
            return sorted(f"{i.name}/{r['id']}" for i in store.list_collections() for r in store.find(i.kind, i.encoder).query(limit=16384))
        finally:
            close(uri)

    assert ids(db) == ids(clean_db)  # resumed without duplicates or losses


def test_a_catalogue_with_its_image_zip_then_similar_but_cheaper(server, sample_photos: Path):
    import zipfile

    names = sorted(os.listdir(sample_photos))[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.writestr(f"img/{n}", (sample_photos / n).read_bytes())
    rows = ["id,title,price,currency,category,image"]
    rows += [f"SKU-{i},Item {i},{100 - i * 10},EUR,things,img/{n}" for i, n in enumerate(names)]
    body, headers = multipart({"kind": "catalogue"}, [("items.csv", "\n".join(rows).encode()), ("images.zip", buf.getvalue())])
    status, job = server.request("POST", "/api/jobs/upload", raw=body, headers=headers)
    assert status == 202, job
    done = wait_job(server, job["id"])
    assert done["state"] == "done" and done["indexed"] == len(names), done
    status, answer = server.request("GET", "/api/items/SKU-0/similar?cheaper=true&k=10")
    assert status == 200, answer
    assert answer["anchor"]["id"] == "SKU-0" and answer["anchor"]["price"] == 100
    assert all(h["price"] < 100 and h["id"] != "SKU-0" for h in answer["hits"])
    assert answer["hits"] or answer["message"]  # lookalikes, or one sentence saying why none
    assert server.request("GET", "/api/items/NOPE/similar")[0] == 400


def test_documents_then_a_streamed_answer_with_citations(server):
    text = ("Grant of Patent License. Each contributor grants you a perpetual, worldwide, royalty-free patent "
            "license to make, use and sell the work.\n\nTrademarks. This licence does not grant permission to use "
            "the trade names of the licensor.\n")
    body, headers = multipart({"kind": "docs"}, [("licence.txt", text.encode())])
    status, job = server.request("POST", "/api/jobs/upload", raw=body, headers=headers)
    assert status == 202, job
    assert wait_job(server, job["id"])["state"] == "done"
    status, payload = server.request("POST", "/api/ask", {"question": "What does it say about patents?", "k": 2},
                                     headers={"Accept": "application/x-ndjson"})
    assert status == 200
    lines = [json.loads(line) for line in payload.splitlines() if line.strip()]
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "citations" and kinds[-1] == "answer" and "text" in kinds, kinds
    final = lines[-1]
    assert final["citations"] and final["citations"][0]["source"].endswith("licence.txt")
    assert "patent" in final["answer"].lower()
    assert server.request("POST", "/api/ask", {"question": "   "})[0] == 400
    # `mmsearch ask` alongside: answered by the server, cited the same way
    result = cli("ask", "What does it say about patents?", "--db", server.db, "--json", "--llm", "extractive", "-k", "2")
    assert result.returncode == 0, result.stderr
    assert "through the server" in result.stderr and "answered by extractive" in result.stderr
    answer = json.loads(result.stdout)
    assert answer["citations"][0]["source"].endswith("licence.txt") and "patent" in answer["answer"].lower()
    refused = cli("ask", "What does it say about patents?", "--db", server.db, "--rerank", "some/model")
    assert refused.returncode == 1 and "--rerank is not available through the running server" in refused.stderr


def test_models_use_alongside_switches_on_the_server(server, sample_photos: Path):
    """`mmsearch models use` while the server holds the Lite file: the server fills the new
    collection as a job and cuts over; its API then answers with the new model (last in this
    module: it changes the served library's photo model)."""
    status, before = server.request("GET", "/api/models")
    assert status == 200 and before["image_to_image"] != "open_clip:ViT-B-32/random"
    result = cli("models", "use", "photos", "open_clip:ViT-B-32/random", "--db", server.db, "-q")
    assert result.returncode == 0, result.stderr + server.log()
    assert "now open_clip:ViT-B-32/random" in result.stdout and "filled" in result.stdout
    status, after = server.request("GET", "/api/models")
    assert after["image_to_image"] == after["text_to_image"] == "open_clip:ViT-B-32/random"
    photo = sorted(sample_photos.iterdir())[0]
    body, headers = _one_file(photo.name, photo.read_bytes(), {"k": "3"})
    status, answer = server.request("POST", "/api/search/image", raw=body, headers=headers)
    assert status == 200 and answer["hits"], answer
    assert Path(answer["hits"][0]["source"]).name == photo.name and answer["hits"][0]["score"] > 0.99  # itself, in CLIP's space
    status, refused = server.request("POST", "/api/models", {"kind": "photos", "encoder": "sentence_transformers:all-MiniLM-L6-v2"})
    assert status == 400 and "does not embed photos" in refused["detail"]
