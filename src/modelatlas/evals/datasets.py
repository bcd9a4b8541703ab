"""Benchmark data files: where they come from, how they are pinned, where they are kept.

Each :class:`DatasetFile` names its canonical public source, the sha256 of the exact bytes we
evaluate on, and (when one exists) a URL serving those exact bytes. A file is looked up, in
order, in:

1. the mirror folders: the ``data_dir`` argument, then ``MODELATLAS_DATA_DIR``;
2. the download cache, ``$MODELATLAS_HOME/cache/datasets``;
3. the network (the URL), only when neither has it; the download lands in the cache.

Every copy, mirror included, is verified by sha256: a mismatch is an error naming the file and
both digests, never a silent fallback. The relative path of a file is the same in a mirror
folder and in the cache (e.g. ``gsm8k/gsm8k_test.jsonl``).

Zipped files (GPQA Diamond, whose authors ask that it not be posted in plain text) are
decrypted at run time into the cache folder, never next to the mirror or into a repository.

Bad rows: :func:`load_rows` validates each row with a pydantic model. A dataset's
``bad_rows`` policy is ``"error"`` (stop with the file and row number) or ``"skip"`` (leave the
row out and count it in :attr:`RowsRead.skipped`). The pinned files of this module all use
``"error"``: their bytes are fixed by sha256, so a bad row is a bug, not noise.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from modelatlas.errors import UserError
from modelatlas.settings import data_dir as configured_data_dir
from modelatlas.settings import home_dir

BadRowPolicy = Literal["error", "skip"]

DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True, kw_only=True)
class DatasetFile:
    """One pinned benchmark data file.

    ``path`` is relative to a mirror folder and to the cache. ``url`` serves exactly the pinned
    bytes; it is ``None`` when the public source only offers another encoding (e.g. Parquet on
    the Hugging Face hub) and the pinned file is a faithful conversion, so only a mirror can
    provide it. ``member``/``password`` describe a file inside an encrypted zip.
    """

    key: str
    title: str
    path: str
    sha256: str
    source: str
    url: str | None
    license: str
    bad_rows: BadRowPolicy = "error"
    member: str | None = None
    password: str | None = None
    note: str = ""

    @property
    def filename(self) -> str:
        return Path(self.path).name


MMLU_PRO = DatasetFile(
    key="mmlu_pro",
    title="MMLU-Pro test split",
    path="mmlu_pro/mmlu_pro_test.jsonl",
    sha256="df683355909f9ce3c4643075e503c2194bc07ede3731fc7200c9e10f82d680e7",
    source="https://huggingface.co/datasets/TIGER-Lab/MMLU-Pro (split 'test')",
    url=None,
    license="MIT",
    note="The hub serves Parquet; the pinned file is its test split as JSON lines.",
)

GPQA_DIAMOND = DatasetFile(
    key="gpqa_diamond",
    title="GPQA Diamond (encrypted zip)",
    path="gpqa_diamond/gpqa_diamond.zip",
    sha256="403dcf32095a58cba1aa8e2702b9a277b4042dc9c8751da9408023671ff2e9aa",
    source="https://github.com/idavidrein/gpqa (dataset.zip, gpqa_diamond.csv); "
    "https://huggingface.co/datasets/Idavidrein/gpqa (gated)",
    url=None,
    license="CC-BY-4.0",
    member="gpqa_diamond.csv",
    password="deserted-untie-orchid",  # published by the authors for their own zip
    note="The pinned zip holds only gpqa_diamond.csv from the authors' dataset.zip.",
)

AIME_2025 = DatasetFile(
    key="aime2025",
    title="AIME 2025 I and II (MathArena)",
    path="aime2025/aime2025_matharena.jsonl",
    sha256="519dd20b53b7f7a91036af2091cf47ab146c3d96447e71f31ae512efef02d644",
    source="https://huggingface.co/datasets/MathArena/aime_2025; https://github.com/eth-sri/matharena",
    url=None,
    license="problems (c) MAA",
    note="The hub serves Parquet; the pinned file is the same 30 problems as JSON lines.",
)

AIME_2024 = DatasetFile(
    key="aime2024",
    title="AIME 2024 I and II (Qwen2.5-Math evaluation copy)",
    path="aime2024/aime24_qwen25math_test.jsonl",
    sha256="af2b8bd2aa911b6333ad0df32f3ca05c7ae8ed10f1731f4372c8ae26990bf7ac",
    source="https://github.com/QwenLM/Qwen2.5-Math (evaluation/data/aime24/test.jsonl); "
    "https://huggingface.co/datasets/Maxwell-Jia/AIME_2024",
    url="https://raw.githubusercontent.com/QwenLM/Qwen2.5-Math/main/evaluation/data/aime24/test.jsonl",
    license="problems (c) MAA",
)

MATH_500 = DatasetFile(
    key="math500",
    title="MATH-500",
    path="math500/math500_test.jsonl",
    sha256="35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
    source="https://huggingface.co/datasets/HuggingFaceH4/MATH-500 (test.jsonl)",
    url="https://huggingface.co/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl",
    license="MIT",
)

GSM8K = DatasetFile(
    key="gsm8k",
    title="GSM8K test split",
    path="gsm8k/gsm8k_test.jsonl",
    sha256="3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
    source="https://github.com/openai/grade-school-math (grade_school_math/data/test.jsonl); "
    "https://huggingface.co/datasets/openai/gsm8k",
    url="https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl",
    license="MIT",
)

DATASET_FILES: dict[str, DatasetFile] = {
    ds.key: ds for ds in (MMLU_PRO, GPQA_DIAMOND, AIME_2025, AIME_2024, MATH_500, GSM8K)
}


# --- errors --------------------------------------------------------------------------------


class DatasetError(UserError):
    """A benchmark data file is missing, corrupt, or holds a bad row."""


class ChecksumMismatchError(DatasetError):
    def __init__(self, file: str, expected: str, actual: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"Checksum mismatch for dataset file {file}: expected sha256 {expected}, got {actual}.",
            hint=hint
            or "The file is corrupt or a different version; replace it with the pinned copy.",
        )
        self.file = file
        self.expected = expected
        self.actual = actual


class DatasetUnavailableError(DatasetError):
    def __init__(self, message: str, *, hint: str | None = None, tried: list[Path]) -> None:
        super().__init__(message, hint=hint)
        self.tried = tried


class DatasetRowError(DatasetError):
    def __init__(self, file: str, row: int, problem: str) -> None:
        super().__init__(f"Bad row {row} in dataset file {file}: {problem}")
        self.file = file
        self.row = row
        self.problem = problem


# --- locating and verifying ----------------------------------------------------------------


def cache_dir() -> Path:
    """The download cache, ``$MODELATLAS_HOME/cache/datasets`` (created on use)."""
    path = home_dir() / "cache" / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dirs(data_dir: Path | None = None) -> list[Path]:
    """Mirror folders to search, in order: the explicit one, then ``MODELATLAS_DATA_DIR``."""
    dirs: list[Path] = []
    for candidate in (data_dir, configured_data_dir()):
        if candidate is not None:
            resolved = Path(candidate).expanduser()
            if resolved not in dirs:
                dirs.append(resolved)
    return dirs


_verified: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """The sha256 of a file, memoised per (path, size, mtime) for this process."""
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _verified.get(memo_key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    _verified[memo_key] = digest.hexdigest()
    return _verified[memo_key]


def verify_file(path: Path, expected: str) -> None:
    """Raise :class:`ChecksumMismatchError` unless ``path`` has the expected sha256."""
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatchError(str(path), expected, actual)


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` into ``dest`` (replaced atomically)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "modelatlas"})
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response,
        ):
            while chunk := response.read(1 << 20):
                out.write(chunk)
        os.replace(tmp_name, dest)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def dataset_path(ds: DatasetFile, data_dir: Path | None = None) -> Path:
    """A verified local copy of a dataset file: mirror, else cache, else download."""
    mirrors = mirror_dirs(data_dir)
    for folder in mirrors:
        candidate = folder / ds.path
        if candidate.is_file():
            verify_file(candidate, ds.sha256)
            return candidate
    cached = cache_dir() / ds.path
    if cached.is_file():
        verify_file(cached, ds.sha256)
        return cached

    tried = [folder / ds.path for folder in mirrors] + [cached]
    where = (
        ", ".join(str(folder) for folder in mirrors)
        if mirrors
        else "none configured (pass a data folder or set MODELATLAS_DATA_DIR)"
    )
    hint = (
        f"Put a copy of {ds.path} (sha256 {ds.sha256}, from {ds.source}) under a mirror folder "
        "and point MODELATLAS_DATA_DIR at that folder."
    )
    if ds.url is None:
        raise DatasetUnavailableError(
            f"Dataset file {ds.path} ({ds.title}) was not found. Mirror folders tried: {where}; "
            f"cache: {cached}. There is no direct download of the pinned bytes "
            f"({ds.note or ds.source}).",
            hint=hint,
            tried=tried,
        )
    try:
        _download(ds.url, cached)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DatasetUnavailableError(
            f"Dataset file {ds.path} ({ds.title}) was not found. Mirror folders tried: {where}; "
            f"cache: {cached}. The download from {ds.url} failed: {exc}.",
            hint=hint,
            tried=tried,
        ) from None
    actual = sha256_file(cached)
    if actual != ds.sha256:
        cached.unlink()
        raise ChecksumMismatchError(
            f"{ds.path} (downloaded from {ds.url})",
            ds.sha256,
            actual,
            hint="The source has changed since the file was pinned; use a mirror with the "
            "pinned copy, or pin the new file (and bump the benchmark's version).",
        )
    return cached


def extracted_member(ds: DatasetFile, data_dir: Path | None = None) -> Path:
    """The plaintext of a zipped dataset's member, decrypted into the cache folder.

    The plaintext lives in ``cache/datasets/<folder>/<zip sha256 prefix>/<member>`` (mode 0600)
    with its sha256 alongside; it is re-extracted when either is missing or they disagree.
    """
    if ds.member is None:
        raise ValueError(f"dataset {ds.key} is not a zip member")
    archive = dataset_path(ds, data_dir)
    folder = cache_dir() / Path(ds.path).parent / ds.sha256[:16]
    target = folder / ds.member
    digest_file = target.with_name(target.name + ".sha256")
    if (
        target.is_file()
        and digest_file.is_file()
        and sha256_file(target) == digest_file.read_text().strip()
    ):
        return target
    try:
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(ds.member, pwd=ds.password.encode() if ds.password else None)
    except (zipfile.BadZipFile, KeyError, RuntimeError, NotImplementedError) as exc:
        raise DatasetError(f"Cannot extract {ds.member} from {archive}: {exc}") from None
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{ds.member}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp files are created with mode 0600
            out.write(data)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    digest_file.write_text(hashlib.sha256(data).hexdigest() + "\n")
    return target


# --- reading rows --------------------------------------------------------------------------


RowT = TypeVar("RowT", bound=BaseModel)


@dataclass
class RowsRead(Generic[RowT]):
    """Validated rows of one file, with their 1-based row numbers, and any skipped rows."""

    file: str
    rows: list[tuple[int, RowT]]
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _raw_rows(path: Path) -> Iterator[tuple[int, str | dict[str, str]]]:
    """(row number, row) pairs: JSON lines (undecoded) by line number, CSV records (dicts) by
    record number."""
    if path.suffix == ".csv":
        csv.field_size_limit(1 << 30)
        with path.open(newline="", encoding="utf-8") as fh:
            yield from enumerate(csv.DictReader(fh), start=1)
        return
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def _problem(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        if err["type"] == "json_invalid":
            parts.append(f"not valid JSON ({err['msg']})")
            continue
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"field '{where}': {err['msg']}")
    return "; ".join(parts)


def load_rows(ds: DatasetFile, model: type[RowT], data_dir: Path | None = None) -> RowsRead[RowT]:
    """Read and validate every row of a dataset file, applying its bad-row policy."""
    if ds.member is not None:
        path = extracted_member(ds, data_dir)
        label = f"{ds.path}:{ds.member}"
    else:
        path = dataset_path(ds, data_dir)
        label = str(path)
    result: RowsRead[RowT] = RowsRead(file=label, rows=[])
    for number, raw in _raw_rows(path):
        problem: str | None = None
        try:
            row = (
                model.model_validate_json(raw)
                if isinstance(raw, str)
                else model.model_validate(raw)
            )
            result.rows.append((number, row))
        except ValidationError as exc:
            problem = _problem(exc)
        if problem is not None:
            if ds.bad_rows == "error":
                raise DatasetRowError(label, number, problem)
            result.skipped.append((number, problem))
    return result
