"""`mmsearch demo --no-serve`, as `make demo` runs it: the sample photos and the demo catalogue are
indexed into the library's own models (fake encoders here; the real ones in `make demo`)."""

from __future__ import annotations

from pathlib import Path

from tests.fake_cli import main, stored_rows


def test_demo_indexes_the_sample_photos_and_the_catalogue(tmp_path: Path):
    db = str(tmp_path / "demo.db")
    assert main(["demo", "--no-serve", "--db", db, "--data-dir", str(tmp_path / "data"), "-q"]) == 0
    photos, products = stored_rows(db, "image"), stored_rows(db, "product")
    assert len(photos) >= 20 and any(Path(r["source"]).name == "butterfly.jpg" for r in photos)
    assert len(products) >= 100 and all(r["price"] is not None for r in products)
