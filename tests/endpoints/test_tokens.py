"""o200k counting works offline from the bpe-openai data file, verified by tiktoken's hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelatlas.endpoints import tokens
from modelatlas.endpoints.sim import ANSWER_WORD, REASONING_WORD


def test_known_counts() -> None:
    assert tokens.count_tokens("") == 0
    assert tokens.count_tokens("hello world") == 2
    enc = tokens.o200k()
    assert enc.name == "o200k_base"
    assert enc.n_vocab == 200019
    assert tokens.o200k() is enc
    text = "Les modèles de langage comptent en tokens. 12345 ¿Qué tal?" * 10
    assert tokens.count_tokens(text) == len(enc.encode_ordinary(text))


@pytest.mark.parametrize("word", [ANSWER_WORD, REASONING_WORD])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 50])
def test_sim_words_are_one_token_each(word: str, n: int) -> None:
    assert tokens.count_tokens(word * n) == n


def test_special_token_text_is_plain_text() -> None:
    assert tokens.count_tokens("<|endoftext|>") > 1


def test_cache_file_named_as_tiktoken_expects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    path = tokens.ensure_o200k_cached()
    assert path.parent == tmp_path
    assert path.name == hashlib.sha1(tokens.O200K_URL.encode()).hexdigest()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokens.O200K_SHA256
    # A corrupt cache file is replaced.
    path.write_bytes(b"garbage")
    assert tokens.ensure_o200k_cached() == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokens.O200K_SHA256


def test_default_cache_dir_is_under_modelatlas_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setenv("MODELATLAS_HOME", str(tmp_path))
    path = tokens.ensure_o200k_cached()
    assert path.parent == tmp_path / "cache" / "tiktoken"
    import os

    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(path.parent)


def test_missing_data_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from modelatlas.errors import MissingDependencyError

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "bpe_openai", None)
    with pytest.raises(MissingDependencyError, match="bpe-openai"):
        tokens.ensure_o200k_cached()
