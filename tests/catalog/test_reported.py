"""Importing the reference site's published results (a real API reply with 589 models)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from modelatlas.catalog.reported import (
    EVALUATION_KEYS,
    import_reported,
    infer_index_version,
    read_api_file,
    reported_for,
)
from modelatlas.errors import UserError
from modelatlas.evals.registry import list_benchmarks
from modelatlas.store.base import Store, open_store
from modelatlas.store.reported_tables import ReportedImportRow, ReportedResultRow

FIXTURE_NAME = "aa_api_v2_llms_models_2026-07-31.json"


@pytest.fixture
def fixture_path(shared_dir: Path) -> Path:
    path = shared_dir / "fixtures" / FIXTURE_NAME
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "reported.db"))
    yield s
    s.close()


def count(store: Store, table: type[ReportedResultRow] | type[ReportedImportRow]) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_imports_589_models_idempotently(fixture_path: Path, store: Store) -> None:
    first = import_reported(store, fixture_path)
    assert first.models == 589
    assert first.snapshot_date == dt.date(2026, 7, 31)
    assert first.index_version == "aa-v4.1"
    assert 0 < first.matched < 589
    assert first.replaced == 0
    # The published Coding Index is reproduced by the v4.1 definition from the evaluations.
    check = first.coding_index_check
    assert check["checked"] > 100 and check["agree"] / check["checked"] > 0.95

    second = import_reported(store, fixture_path)
    assert second.models == 589 and second.replaced == 589
    assert second.matched == first.matched
    assert count(store, ReportedResultRow) == 589
    assert count(store, ReportedImportRow) == 1


def test_values_are_converted_and_zero_means_unknown(fixture_path: Path, store: Store) -> None:
    import_reported(store, fixture_path)
    [qwen] = reported_for(store, "qwen3-vl-4b-reasoning")
    assert qwen.kind == "reported" and qwen.source == "artificialanalysis"
    assert qwen.model_slug == "qwen3-vl-4b-reasoning"  # matched to the catalog
    assert qwen.index_version == "aa-v4.1"
    assert qwen.indices["intelligence"] == pytest.approx(7.9)
    assert "coding" not in qwen.indices  # null in the source: unknown
    # Fractions become percent under our keys (METHODOLOGY's published example).
    assert qwen.evaluations["mmlu_pro"] == pytest.approx(70.0)
    assert qwen.evaluations["gpqa_diamond"] == pytest.approx(49.4)
    assert qwen.evaluations["aime25"] == pytest.approx(25.6667, abs=1e-3)
    assert qwen.evaluations["terminalbench_hard"] == pytest.approx(1.51515, abs=1e-4)
    assert "math500" not in qwen.evaluations
    # Price and speed 0 in the source are unknown, never free or instant.
    assert qwen.price_input is None and qwen.price_output is None
    assert qwen.median_output_tps is None and qwen.median_ttft_s is None

    [oss] = reported_for(store, "gpt-oss-120b")
    assert oss.price_input == pytest.approx(0.15) and oss.price_output == pytest.approx(0.6)
    assert oss.median_output_tps == pytest.approx(193.41)
    assert oss.median_ttfat_s == pytest.approx(10.892)

    # A 0 evaluation is a score, not unknown.
    [instruct] = reported_for(store, "qwen3-vl-4b-instruct")
    assert instruct.evaluations["terminalbench_hard"] == 0.0


def test_evaluation_keys_agree_with_the_benchmark_registry() -> None:
    for benchmark in list_benchmarks():
        if benchmark.aa_key is not None:
            assert EVALUATION_KEYS[benchmark.aa_key] == benchmark.key


def test_index_version_inference(fixture_path: Path) -> None:
    parsed, _ = read_api_file(fixture_path)
    assert infer_index_version(parsed.data) == "aa-v4.1"
    for model in parsed.data:
        for key in ("terminalbench_v2_1", "tau_banking"):
            model.evaluations.pop(key, None)
    assert infer_index_version(parsed.data) == "aa-v3"


def test_bad_files_name_the_problem(tmp_path: Path, store: Store) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match=r"bad\.json"):
        import_reported(store, bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"data": [{"id": "1", "name": "x"}]}))
    with pytest.raises(UserError, match=r"data\.0\.slug"):
        import_reported(store, wrong)
