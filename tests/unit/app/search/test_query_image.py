"""A query photo keeps what the 512-px bound allows: the model that embeds it is not known yet."""

from __future__ import annotations

import io

from PIL import Image

from app.search.queries import load_query_image
from indexers.image_io import open_image


def test_a_query_photo_decodes_at_full_scale_where_indexing_may_reduce_it():
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 200)).save(buf, "JPEG", quality=90)
    assert open_image(buf.getvalue(), short_side=224).size == (320, 240)  # indexing for a 224-px model
    query = load_query_image(buf.getvalue())
    assert query.size == (512, 384) and query.info["orig_size"] == (640, 480)
