"""pymilvus imported with pandas deferred (`milvus.deferred_pandas`), each case in a fresh
interpreter: pandas stays unimported, pymilvus's pandas helpers answer as with pandas imported
first, and an import that the stand-ins cannot serve falls back to the usual one."""

from __future__ import annotations

from pathlib import Path

from tests.fresh_python import probe_env, run_probe

# pymilvus's own uses of pandas: dtype inference from values, and "is this a DataFrame?"
USES = """
import json, sys
import pymilvus.orm.schema as schema
import pymilvus.orm.types as types
before = "pandas" in sys.modules
answers = [types.infer_dtype_bydata(v).name for v in (1.5, 7, "word", [1.0, 2.0], {"a": 1})]
import pandas
frame = pandas.DataFrame({"a": [1, 2]})
print("PROBE " + json.dumps({
    "pandas_before_use": before,
    "answers": answers,
    "frame_valid": schema.is_valid_insert_data(frame),
    "same_class": schema.pd.DataFrame is pandas.DataFrame,
    "stand_in": type(schema.pd).__name__,
}))
"""

DEFERRED = "from milvus.client import import_pymilvus; import_pymilvus()\n" + USES
PANDAS_FIRST = "import pandas\nfrom milvus.client import import_pymilvus; import_pymilvus()\n" + USES


def test_pymilvus_answers_the_same_with_pandas_deferred(tmp_path: Path) -> None:
    deferred, usual = (run_probe(code, [], tmp_path, probe_env()) for code in (DEFERRED, PANDAS_FIRST))
    assert deferred["pandas_before_use"] is False
    assert deferred["stand_in"] == "DeferredModule"
    assert usual["stand_in"] == "module"  # pandas already imported: nothing deferred
    assert deferred["answers"] == usual["answers"]
    assert deferred["answers"] == ["DOUBLE", "INT64", "VARCHAR", "FLOAT_VECTOR", "JSON"]
    assert deferred["frame_valid"] is usual["frame_valid"] is True
    assert deferred["same_class"] is usual["same_class"] is True


def test_an_import_the_stand_ins_cannot_serve_is_done_as_usual(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "oddpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from oddpkg import part\nimport pandas as pd\nWIDTH = pd.options.display.width\n")
    (package / "part.py").write_text("import pandas as pd\n")
    code = """
import json, sys
from milvus.deferred_pandas import import_deferring_pandas
oddpkg = import_deferring_pandas("oddpkg")
import pandas
print("PROBE " + json.dumps({"width": oddpkg.WIDTH, "real": oddpkg.pd is pandas and oddpkg.part.pd is pandas,
      "registered": sys.modules["oddpkg"] is oddpkg}))
"""
    got = run_probe(code, [], tmp_path, probe_env(tmp_path / "lib"))
    assert {k: got[k] for k in ("width", "real", "registered")} == {"width": 80, "real": True, "registered": True}
