"""``modelatlas catalog ...`` as a user runs it (through ``modelatlas.cli:main``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., tuple[int, str, str]]


def test_show_qwen3_vl_4b_reasoning_json(cli: Cli, db_url: str) -> None:
    code, out, err = cli("catalog", "show", "qwen3-vl-4b-reasoning", "--json", "--db", db_url)
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "model"
    assert data["slug"] == "qwen3-vl-4b-reasoning"
    assert data["name"] == "Qwen3 VL 4B (Reasoning)"
    assert data["reasoning"] is True
    assert data["input_modalities"] == ["text", "image"]
    assert data["output_modalities"] == ["text"]
    assert data["context_window"] == 262_144
    assert data["total_params"] == 4_440_000_000
    assert data["license"] == "Apache-2.0"
    assert data["open_weights"] is True
    assert data["release_date"] == "2025-10-14"
    assert data["creator"] == "alibaba" and data["creator_name"] == "Alibaba"
    derived = data["derived"]
    assert derived["size_class"] == "tiny"
    assert derived["total_params_label"] == "4.4B"
    assert derived["context_pages_text"] == "~384 A4 pages"
    assert derived["superseded_by"] == {"slug": "qwen3.5-4b", "name": "Qwen3.5 4B (Reasoning)"}
    assert "newer model, Qwen3.5 4B (Reasoning)" in derived["superseded_note"]
    assert derived["blended_price_3_to_1"] is None  # no known price: unknown, not free
    assert derived["price_tier"] is None
    assert "qwen3-vl-4b-instruct" in derived["family_members"]
    assert "qwen3-vl-4b-instruct" in derived["comparison_class"]["peers"]
    assert data["provenance"]["context_window"][0] == {"value": 262_144, "source": "builtin"}


def test_show_endpoint_json_with_price_and_tier(cli: Cli, db_url: str) -> None:
    code, out, _ = cli("catalog", "--db", db_url, "show", "openai/gpt-5-nano", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "endpoint"
    assert data["derived"]["blended_price_3_to_1"] == 0.1375
    assert data["derived"]["price_tier"] == "low"
    assert data["resolved"]["api_key_env"] == "OPENAI_API_KEY"
    assert data["price_history"][0]["effective_from"] == "2025-08-07"


def test_show_table(cli: Cli, db_url: str) -> None:
    code, out, _ = cli("catalog", "show", "qwen3-vl-4b-reasoning", "--db", db_url)
    assert code == 0
    assert "~384 A4 pages" in out
    assert "Qwen3.5 4B (Reasoning)" in out


def test_unknown_slug_suggests_and_fails(cli: Cli, db_url: str) -> None:
    code, out, err = cli("catalog", "show", "qwen3-vl-4b-reasonin", "--db", db_url)
    assert code != 0
    assert "Unknown model or endpoint 'qwen3-vl-4b-reasonin'" in err
    assert "Did you mean: qwen3-vl-4b-reasoning" in err
    assert "Traceback" not in err + out


def test_list_models_filters(cli: Cli, db_url: str) -> None:
    code, out, _ = cli(
        "catalog", "list", "--creator", "alibaba", "--reasoning", "--open", "--json", "--db", db_url
    )
    assert code == 0
    rows = json.loads(out)
    slugs = {r["slug"] for r in rows}
    assert "qwen3-vl-4b-reasoning" in slugs
    assert "qwen3-vl-4b-instruct" not in slugs
    assert all(r["creator"] == "alibaba" and r["reasoning"] and r["open_weights"] for r in rows)
    code, out, _ = cli(
        "catalog", "list", "--proprietary", "--no-reasoning", "--json", "--db", db_url
    )
    rows = json.loads(out)
    assert rows and all(not r["open_weights"] and not r["reasoning"] for r in rows)
    assert "claude-sonnet-4.5" in {r["slug"] for r in rows}


def test_list_tables_for_each_kind(cli: Cli, db_url: str) -> None:
    for kind, expected in [
        ("models", "qwen3-vl-4b-reasoning"),
        ("endpoints", "local/smollm2-135m"),
        ("providers", "OPENAI_API_KEY"),
        ("creators", "Alibaba"),
    ]:
        code, out, err = cli("catalog", "list", "--kind", kind, "--db", db_url)
        assert code == 0, err
        assert expected in out


def test_list_unknown_kind_and_creator(cli: Cli, db_url: str) -> None:
    code, _, err = cli("catalog", "list", "--kind", "model", "--db", db_url)
    assert code != 0 and "Did you mean: models" in err
    code, _, err = cli("catalog", "list", "--creator", "alibab", "--db", db_url)
    assert code != 0 and "Did you mean: alibaba" in err


def test_import_then_reimport_changes_nothing(cli: Cli, db_url: str, models_dev_path: Path) -> None:
    code, out, err = cli(
        "catalog", "import", "models-dev", "--path", str(models_dev_path), "--db", db_url
    )
    assert code == 0, err
    assert "4,803 entries" in out
    assert "conflicts between sources" in out
    code, out, err = cli(
        "catalog", "import", "models-dev", "--path", str(models_dev_path), "--db", db_url, "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["entries"] > 4000
    assert report["facts"]["added"] == 0 and report["facts"]["changed"] == 0
    code, out, _ = cli("catalog", "list", "--kind", "endpoints", "--json", "--db", db_url)
    assert len(json.loads(out)) > 4000
    code, out, _ = cli("catalog", "list", "--curated", "--json", "--db", db_url)
    assert all(r["origin"] != "imported" for r in json.loads(out))


def test_import_unknown_source_suggests(cli: Cli, db_url: str) -> None:
    code, _, err = cli("catalog", "import", "modelsdev", "--db", db_url)
    assert code != 0
    assert "Unknown import source 'modelsdev'" in err and "models-dev" in err


def test_conflicts_command(cli: Cli, imported_db: str) -> None:
    code, out, err = cli("catalog", "conflicts", "--json", "--db", imported_db)
    assert code == 0, err
    conflicts = json.loads(out)
    assert len(conflicts) > 0
    first = conflicts[0]
    assert set(first) >= {"entity_kind", "entity_key", "field", "values", "chosen_source"}
    assert "builtin" in first["values"]  # conflicts with our own facts come first
    code, out, _ = cli("catalog", "conflicts", "--limit", "3", "--db", imported_db)
    assert code == 0 and "conflicts" in out


def test_show_imported_endpoint_has_provenance(cli: Cli, imported_db: str) -> None:
    code, out, err = cli(
        "catalog", "show", "openrouter/openai/gpt-5", "--json", "--db", imported_db
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["origin"] == "imported"
    assert data["model"] == "gpt-5"  # linked to the built-in model
    sources = {r["source"] for r in data["provenance"]["prices.input"]}
    assert "models-dev" in sources


def test_user_catalog_option(cli: Cli, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[[providers]]\nslug = "box"\nname = "Box"\nbase_url = "http://box:8000/v1"\n'
        '[[endpoints]]\nslug = "box/smol"\nprovider = "box"\nmodel = "smollm2-135m-instruct"\n'
        'api_model_id = "smol"\nprices = { input = "x" }\n'
    )
    code, _, err = cli("catalog", "show", "box/smol", "--catalog", str(path), "--db", db_url)
    assert code != 0
    assert f"{path}: endpoints[0].prices.input: Input should be a valid number" in err
    path.write_text(path.read_text().replace('"x"', "0.1"))
    code, out, err = cli(
        "catalog", "--catalog", str(path), "show", "box/smol", "--json", "--db", db_url
    )
    assert code == 0, err
    assert json.loads(out)["resolved"]["base_url"] == "http://box:8000/v1"
