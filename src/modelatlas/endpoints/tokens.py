"""Token counting with tiktoken's ``o200k_base``, offline.

The reference site counts output tokens with ``o200k_base`` unless the server reports
``usage.completion_tokens``; we do the same (see ``docs/METHODOLOGY.md``).

tiktoken normally downloads the BPE ranks from ``O200K_URL``. We have no network, so we take the
same file from the ``bpe-openai`` package (``bpe_openai/data/o200k_base.tiktoken.gz``, found
with ``importlib.util.find_spec``), decompress it once into tiktoken's cache directory under the
name tiktoken itself looks for (``sha1(O200K_URL)``), and let tiktoken load it: tiktoken still
checks the file against its expected SHA-256, so the encoding is byte-for-byte OpenAI's.

The cache directory is ``$TIKTOKEN_CACHE_DIR`` when set, else ``$MODELATLAS_HOME/cache/tiktoken``
(and ``TIKTOKEN_CACHE_DIR`` is then set to it for this process).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import threading
import uuid
from pathlib import Path

import tiktoken

from modelatlas.errors import MissingDependencyError, UserError
from modelatlas.settings import home_dir

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
"""Where tiktoken would download the ranks from; its SHA-1 names the cached file."""
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
"""SHA-256 of the decompressed ranks file, as pinned by ``tiktoken_ext.openai_public``."""

_SHORT_TEXT = 64
_lock = threading.Lock()


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    path = home_dir() / "cache" / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def packaged_ranks_path() -> Path:
    """``bpe_openai/data/o200k_base.tiktoken.gz``, located without importing ``bpe_openai``
    (its import eagerly builds rank tables, ~2 s)."""
    missing = MissingDependencyError(
        "bpe-openai", "to count o200k_base tokens offline", "pip install bpe-openai==0.1.4"
    )
    try:
        spec = importlib.util.find_spec("bpe_openai")
    except (ImportError, ValueError) as exc:
        raise missing from exc
    if spec is None or not spec.submodule_search_locations:
        raise missing
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "o200k_base.tiktoken.gz"
        if path.is_file():
            return path
    raise UserError(
        "The o200k_base data file is missing from the bpe-openai package "
        f"({Path(next(iter(spec.submodule_search_locations))) / 'data'}).",
        hint="Reinstall it with: pip install --force-reinstall bpe-openai==0.1.4",
    )


def _packaged_ranks() -> bytes:
    resource = packaged_ranks_path()
    data = gzip.decompress(resource.read_bytes())
    if hashlib.sha256(data).hexdigest() != O200K_SHA256:
        raise UserError(
            f"The o200k_base data file in bpe-openai ({resource}) does not match tiktoken's "
            f"expected SHA-256 {O200K_SHA256}.",
            hint="Reinstall it with: pip install --force-reinstall bpe-openai==0.1.4",
        )
    return data


def ensure_o200k_cached() -> Path:
    """Put the o200k ranks where tiktoken looks for them (once); return the cached file's path."""
    with _lock:
        directory = _cache_dir()
        target = directory / hashlib.sha1(O200K_URL.encode()).hexdigest()
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == O200K_SHA256:
            return target
        data = _packaged_ranks()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            raise UserError(
                f"Cannot write the o200k_base token ranks to {directory}: {exc.strerror}.",
                hint="Set TIKTOKEN_CACHE_DIR to a writable folder.",
            ) from exc
        return target


@functools.cache
def o200k() -> tiktoken.Encoding:
    """The ``o200k_base`` encoding (loaded once per process)."""
    ensure_o200k_cached()
    return tiktoken.get_encoding("o200k_base")


@functools.lru_cache(maxsize=1 << 16)
def _count_short(text: str) -> int:
    return len(o200k().encode_ordinary(text))


def count_tokens(text: str) -> int:
    """Number of ``o200k_base`` tokens in ``text`` (special-token strings count as plain text)."""
    if not text:
        return 0
    if len(text) <= _SHORT_TEXT:
        # Stream deltas are short and repeat a lot (" the", ","): memoise them.
        return _count_short(text)
    return len(o200k().encode_ordinary(text))
