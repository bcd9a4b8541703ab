"""Dataset files: mirror lookup, sha256 pinning, cache, download fallback, bad rows, GPQA zip."""

from __future__ import annotations

import hashlib
import shutil
import stat
import urllib.error
from pathlib import Path

import pytest
from pydantic import BaseModel

from modelatlas.errors import UserError
from modelatlas.evals import datasets
from modelatlas.evals.datasets import (
    DATASET_FILES,
    GPQA_DIAMOND,
    GSM8K,
    MMLU_PRO,
    ChecksumMismatchError,
    DatasetFile,
    DatasetRowError,
    DatasetUnavailableError,
    dataset_path,
    extracted_member,
    load_rows,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mirror(shared_dir: Path) -> Path:
    return shared_dir / "datasets"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Downloads fail, as on a machine without internet; the URLs asked for are recorded."""
    asked: list[str] = []

    def refuse(url: str, dest: Path) -> None:
        asked.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(datasets, "_download", refuse)
    monkeypatch.delenv("MODELATLAS_DATA_DIR", raising=False)
    return asked


def test_pins_match_the_mirror_sha256sums(mirror: Path) -> None:
    sums = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.removeprefix("./")] = digest
    for ds in DATASET_FILES.values():
        assert sums[ds.path] == ds.sha256, ds.key


def test_mirror_from_argument_and_from_environment(
    mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dataset_path(GSM8K, mirror) == mirror / GSM8K.path
    monkeypatch.setenv("MODELATLAS_DATA_DIR", str(mirror))
    assert dataset_path(GSM8K) == mirror / GSM8K.path


def _tampered_mirror(tmp_path: Path, ds: DatasetFile, content: bytes) -> Path:
    folder = tmp_path / "mirror"
    (folder / ds.path).parent.mkdir(parents=True)
    (folder / ds.path).write_bytes(content)
    return folder


def test_checksum_mismatch_names_file_and_both_digests(tmp_path: Path) -> None:
    content = b'{"question": "1+1?", "answer": "#### 2"}\n'
    folder = _tampered_mirror(tmp_path, GSM8K, content)
    with pytest.raises(ChecksumMismatchError) as info:
        dataset_path(GSM8K, folder)
    message = str(info.value)
    assert str(folder / GSM8K.path) in message
    assert GSM8K.sha256 in message
    assert hashlib.sha256(content).hexdigest() in message
    assert isinstance(info.value, UserError)


def test_a_corrupt_mirror_copy_is_an_error_not_a_fallback(
    tmp_path: Path, mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad copy in the first mirror stops the lookup even when a later folder is good."""
    folder = _tampered_mirror(tmp_path, GSM8K, b"garbage\n")
    monkeypatch.setenv("MODELATLAS_DATA_DIR", str(mirror))
    with pytest.raises(ChecksumMismatchError):
        dataset_path(GSM8K, folder)


def test_missing_everywhere_names_file_folders_and_url(
    tmp_path: Path, no_network: list[str]
) -> None:
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(DatasetUnavailableError) as info:
        dataset_path(GSM8K, empty)
    message = str(info.value)
    assert GSM8K.path in message
    assert str(empty) in message
    assert GSM8K.url is not None and GSM8K.url in message
    assert "network disabled" in message
    assert no_network == [GSM8K.url]
    assert empty / GSM8K.path in info.value.tried


def test_missing_without_any_mirror_configured(no_network: list[str]) -> None:
    with pytest.raises(DatasetUnavailableError, match="none configured"):
        dataset_path(GSM8K)


def test_mirror_only_file_is_not_downloaded(tmp_path: Path, no_network: list[str]) -> None:
    with pytest.raises(DatasetUnavailableError) as info:
        dataset_path(MMLU_PRO, tmp_path)
    assert MMLU_PRO.path in str(info.value)
    assert "TIGER-Lab/MMLU-Pro" in str(info.value)
    assert no_network == []


def test_download_lands_in_cache_verified_and_is_reused(
    tmp_path: Path, mirror: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    fetched: list[str] = []

    def fake_download(url: str, dest: Path) -> None:
        fetched.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / GSM8K.path, dest)

    monkeypatch.setattr(datasets, "_download", fake_download)
    path = dataset_path(GSM8K, tmp_path / "nothing-here")
    assert path == isolated_home / "cache" / "datasets" / GSM8K.path
    assert dataset_path(GSM8K) == path
    assert fetched == [GSM8K.url]


def test_a_download_with_other_bytes_is_rejected_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    def fake_download(url: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"changed upstream\n")

    monkeypatch.setattr(datasets, "_download", fake_download)
    with pytest.raises(ChecksumMismatchError) as info:
        dataset_path(GSM8K, tmp_path)
    assert "downloaded from" in str(info.value)
    assert not (isolated_home / "cache" / "datasets" / GSM8K.path).exists()


class _Row(BaseModel):
    question: str
    answer: int


def _local_dataset(tmp_path: Path, text: str, policy: str = "error") -> tuple[DatasetFile, Path]:
    folder = tmp_path / "mirror"
    (folder / "toy").mkdir(parents=True)
    (folder / "toy" / "toy.jsonl").write_text(text)
    ds = DatasetFile(
        key="toy",
        title="toy",
        path="toy/toy.jsonl",
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        source="tests",
        url=None,
        license="-",
        bad_rows=policy,  # type: ignore[arg-type]
    )
    return ds, folder


BAD_ROWS = (
    '{"question": "a", "answer": 1}\n'
    '{"question": "b", "answer": "not a number"}\n'
    "{not json\n"
    '{"question": "d", "answer": 4}\n'
)


def test_bad_row_error_names_file_row_and_field(tmp_path: Path) -> None:
    ds, folder = _local_dataset(tmp_path, BAD_ROWS)
    with pytest.raises(DatasetRowError) as info:
        load_rows(ds, _Row, folder)
    assert info.value.row == 2
    assert "toy.jsonl" in str(info.value)
    assert "answer" in str(info.value)


def test_skip_policy_counts_bad_rows(tmp_path: Path) -> None:
    ds, folder = _local_dataset(tmp_path, BAD_ROWS, policy="skip")
    read = load_rows(ds, _Row, folder)
    assert [n for n, _ in read.rows] == [1, 4]
    assert [n for n, _ in read.skipped] == [2, 3]
    assert "not valid JSON" in read.skipped[1][1]


def test_gpqa_is_decrypted_into_the_cache_only(mirror: Path, isolated_home: Path) -> None:
    plain = extracted_member(GPQA_DIAMOND, mirror)
    assert plain.is_relative_to(isolated_home / "cache" / "datasets")
    assert not plain.is_relative_to(REPO)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    assert plain.read_text(encoding="utf-8").startswith("Pre-Revision Question")
    assert extracted_member(GPQA_DIAMOND, mirror) == plain  # reused
    plain.write_text("tampered")
    assert extracted_member(GPQA_DIAMOND, mirror).read_text(encoding="utf-8").startswith("Pre-")
