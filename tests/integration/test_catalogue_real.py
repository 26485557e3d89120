"""The demo catalogue (Fashion-MNIST) with the real offline models: planted cheaper lookalikes
rank first among cheaper items, the similarity floor separates lookalikes from the rest, and a
re-import costs nothing. Runs the CLI end to end (`index catalogue`, `similar`, `search image`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.cli.main import main
from app.demo.catalogue import DemoDataMissing, prepare_catalogue

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """35 items (3 per class + 5 planted lookalikes) imported with the offline profile."""
    from milvus.client import close

    root = tmp_path_factory.mktemp("democat")
    try:
        csv_path = prepare_catalogue(root / "catalogue", per_class=3, n_duplicates=5)
    except DemoDataMissing as exc:
        pytest.fail(str(exc))
    db = str(root / "cat.db")
    assert main(["index", "catalogue", str(csv_path), "--db", db, "--profile", "offline", "--device", "cpu", "-q", "--json"]) == 0
    yield db, csv_path
    close(db)


def _rows(csv_path: Path) -> dict[str, dict]:
    with open(csv_path, newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def _run_json(capsys, args: list[str]) -> list[dict]:
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_demo_catalogue_is_idempotent(demo, capsys):
    db, csv_path = demo
    before = csv_path.read_bytes()
    assert prepare_catalogue(csv_path.parent, per_class=3, n_duplicates=5) == csv_path
    assert csv_path.read_bytes() == before
    rows = _rows(csv_path)
    assert len(rows) == 35 and sum(r["id"].endswith("-L") for r in rows.values()) == 5
    report = _run_json(capsys, ["index", "catalogue", str(csv_path), "--db", db, "--profile", "offline", "--device", "cpu", "-q", "--json"])
    assert (report["indexed"], report["unchanged"], report["skipped"]) == (0, 35, [])  # type: ignore[index]


def test_planted_lookalike_ranks_first_among_cheaper(demo, capsys):
    db, csv_path = demo
    rows = _rows(csv_path)
    planted = [i for i in rows if i.endswith("-L")]
    for dup in planted:
        orig = dup[:-2]
        hits = _run_json(capsys, ["similar", orig, "--db", db, "--profile", "offline", "--device", "cpu", "--cheaper", "-k", "5", "--json"])
        assert hits and hits[0]["id"] == dup, (orig, [(h["id"], h["score"]) for h in hits])
        anchor_price = float(rows[orig]["price"])
        assert all(h["price"] < anchor_price and h["saving"] > 0 for h in hits)
        assert hits[0]["score"] > 0.9
        assert hits[0]["saving"] == pytest.approx(anchor_price - float(rows[dup]["price"]), abs=1e-3)
        # every hit clears the documented floor for EfficientNet-Lite0
        assert all(h["score"] >= 0.70 for h in hits)


def test_floor_makes_no_lookalike_an_answer(demo, capsys):
    db, csv_path = demo
    rows = _rows(csv_path)
    cheapest = min(rows.values(), key=lambda r: float(r["price"]))
    capsys.readouterr()
    assert main(["similar", cheapest["id"], "--db", db, "--profile", "offline", "--device", "cpu", "--cheaper"]) == 0
    assert "no cheaper lookalike above similarity 0.70" in capsys.readouterr().out
    # a floor of 0.99 leaves even a planted lookalike out
    dup = next(i for i in rows if i.endswith("-L"))
    assert main(["similar", dup[:-2], "--db", db, "--profile", "offline", "--device", "cpu", "--cheaper", "--min-similarity", "0.995"]) == 0
    assert "no cheaper lookalike above similarity 0.995 (the closest candidate scores 0.9" in capsys.readouterr().out


def test_photo_with_a_price(demo, capsys):
    db, csv_path = demo
    rows = _rows(csv_path)
    dup = next(i for i in rows if i.endswith("-L"))
    orig = rows[dup[:-2]]
    photo = csv_path.parent / orig["image"]
    price = float(orig["price"])
    hits = _run_json(capsys, ["search", "image", str(photo), "--price", str(price), "--cheaper", "--min-saving", "0.1",
                              "--db", db, "--profile", "offline", "--device", "cpu", "-k", "3", "--json"])
    assert hits[0]["id"] == dup and all(h["price"] < price * 0.9 for h in hits)
    assert all(h["saving_pct"] >= 0.1 for h in hits)
