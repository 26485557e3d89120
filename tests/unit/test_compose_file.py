"""docker-compose.yml cannot run here (no Docker engine); check its structure instead."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_and_dependencies():
    c = _compose()
    services = c["services"]
    assert {"etcd", "minio", "milvus", "app"} <= set(services)
    milvus = services["milvus"]
    assert milvus["image"].startswith("milvusdb/milvus:v2.6.")
    assert milvus["command"] == ["milvus", "run", "standalone"]
    assert milvus["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
    assert milvus["environment"]["MINIO_ADDRESS"] == "minio:9000"
    assert milvus["depends_on"]["etcd"]["condition"] == "service_healthy"
    assert milvus["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "19530:19530" in milvus["ports"]


def test_every_service_has_a_healthcheck_or_waits_for_one():
    services = _compose()["services"]
    for name in ("etcd", "minio", "milvus"):
        assert services[name]["healthcheck"]["test"], name
    assert "healthz" in " ".join(services["milvus"]["healthcheck"]["test"])
    assert services["app"]["depends_on"]["milvus"]["condition"] == "service_healthy"


def test_app_points_at_the_server_and_volumes_are_named():
    c = _compose()
    app = c["services"]["app"]
    assert app["environment"]["MILVUS_URI"] == "http://milvus:19530"
    assert "8501:8501" in app["ports"]
    # the server listens beyond loopback there: it must be given a token (the compose file refuses to start without one)
    assert app["command"][:2] == ["mmsearch", "serve"] and "0.0.0.0" in app["command"]
    assert app["environment"]["MMSEARCH_API_TOKEN"].startswith("${MMSEARCH_API_TOKEN:?")
    assert (COMPOSE.parent / app["build"] / "Dockerfile").exists()
    named = set(c["volumes"])
    for svc in c["services"].values():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith(("./", "/", "$")):
                assert source in named, vol
