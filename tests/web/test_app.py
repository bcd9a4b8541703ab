"""The web app without a browser: JSON API, OpenAPI, CSV, auth for work-starting endpoints,
security headers, 404s with suggestions, the default bind address."""

from __future__ import annotations

import csv
import inspect
import io

import pytest
from fastapi.testclient import TestClient

from modelatlas.store.base import Store
from modelatlas.web.app import create_app
from modelatlas.web.commands import serve

QWEN = "qwen3-vl-4b-reasoning"


@pytest.fixture
def client(reported_store: Store) -> TestClient:
    return TestClient(create_app(reported_store, api_token="s3cret"))


def test_model_json_carries_sources_and_index_version(client: TestClient) -> None:
    data = client.get(f"/api/v1/models/{QWEN}").json()
    assert data["summary"]["intelligence_index"] == 7.9
    assert data["summary"]["index_version"] == "aa-v4.1"
    card = next(c for c in data["cards"] if c["key"] == "intelligence_index")
    assert card["source"]["kind"] == "reported" and card["source"]["date"] == "2026-07-31"
    assert "averaging" in data["narrative"][0]
    assert data["superseded_notice"].startswith("Alibaba has launched a newer model")
    for section in data["sections"]:
        assert section["charts"] or section["empty_reason"]
        for chart in section["charts"]:
            assert chart["caption"].startswith("Sources:")
    assert {e["key"] for e in data["evaluations"]} >= {"mmlu_pro", "gpqa", "hle", "tau2"}
    gpqa = next(e for e in data["evaluations"] if e["key"] == "gpqa")
    assert gpqa["score"] == pytest.approx(49.4)


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/models",
        "/api/v1/models/{slug}",
        "/api/v1/models/{slug}/providers",
        "/api/v1/compare",
        "/api/v1/creators/{slug}",
        "/api/v1/reload",
    ):
        assert path in spec["paths"]
    assert "ModelPage" in spec["components"]["schemas"]


def test_leaderboard_filters(client: TestClient) -> None:
    tiny = client.get("/api/v1/models", params={"size_class": "tiny"}).json()
    assert QWEN in {m["slug"] for m in tiny}
    assert all(m["size_class"] == "tiny" for m in tiny)
    fast = client.get("/api/v1/models", params={"sort": "output_speed_tps"}).json()
    speeds = [m["output_speed_tps"] for m in fast if m["output_speed_tps"] is not None]
    assert speeds == sorted(speeds, reverse=True) and len(speeds) > 100
    assert len(client.get("/api/v1/models").json()) >= 589


def test_csv_exports(client: TestClient) -> None:
    response = client.get("/csv/leaderboard.csv", params={"creator": "alibaba"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and all(r["creator"] == "alibaba" for r in rows)
    evals = list(
        csv.DictReader(io.StringIO(client.get(f"/csv/models/{QWEN}/evaluations.csv").text))
    )
    assert {r["key"] for r in evals} >= {"mmlu_pro", "gpqa"}
    assert all(r["source_kind"] == "reported" for r in evals)
    compare = client.get("/csv/compare.csv", params={"models": f"{QWEN},qwen3-vl-4b-instruct"})
    assert (
        compare.text.splitlines()[0] == "metric,unit,Qwen3 VL 4B (Reasoning),Qwen3 VL 4B Instruct"
    )
    assert client.get("/csv/creators/alibaba.csv").status_code == 200
    assert client.get(f"/csv/models/{QWEN}/nope.csv").status_code == 404


def test_compare_api(client: TestClient) -> None:
    data = client.get("/api/v1/compare", params={"models": f"{QWEN},gpt-5,unknown-x"}).json()
    assert [m["slug"] for m in data["models"]] == [QWEN, "gpt-5"]
    assert data["unknown"] == ["unknown-x"]
    assert client.get("/api/v1/compare", params={"models": ""}).status_code == 422


def test_work_starting_endpoint_needs_the_token(reported_store: Store) -> None:
    client = TestClient(create_app(reported_store, api_token="s3cret"))
    assert client.post("/api/v1/reload").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/api/v1/reload", headers=bad).status_code == 401
    good = client.post("/api/v1/reload", headers={"Authorization": "Bearer s3cret"})
    assert good.status_code == 200 and good.json()["models"] >= 589
    disabled = TestClient(create_app(reported_store, api_token=""))
    response = disabled.post("/api/v1/reload", headers={"Authorization": "Bearer "})
    assert response.status_code == 403


def test_pages_security_headers_and_not_found(client: TestClient) -> None:
    page = client.get(f"/models/{QWEN}/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "cdn" not in page.text.casefold()
    missing = client.get("/models/qwen3-vl-4b-reasonin/")
    assert missing.status_code == 404 and "Did you mean" in missing.text
    api_missing = client.get("/api/v1/models/qwen3-vl-4b-reasonin").json()
    assert QWEN in api_missing["suggestions"]
    for path in ("/", "/creators/", "/creators/alibaba/", f"/models/{QWEN}/providers/"):
        assert client.get(path).status_code == 200
    plotly_js = client.get("/static/plotly.min.js")
    assert plotly_js.status_code == 200 and len(plotly_js.content) > 1_000_000


def test_serve_binds_loopback_by_default() -> None:
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"


def test_empty_store_serves_the_builtin_catalog() -> None:
    from modelatlas.store.base import open_store

    store = open_store()
    try:
        client = TestClient(create_app(store))
        models = client.get("/api/v1/models").json()
        assert {"qwen3-vl-4b-reasoning", "gpt-5", "smollm2-135m-instruct"} <= {
            m["slug"] for m in models
        }
        assert client.get("/models/smollm2-135m-instruct/").status_code == 200
    finally:
        store.close()
