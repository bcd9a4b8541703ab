"""The user's catalog file: own providers, models and endpoints; clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelatlas.catalog import load_catalog
from modelatlas.errors import UserError

VLLM = """
[[providers]]
slug = "my-vllm"
name = "vLLM on gpu-box"
base_url = "http://gpu-box:8000/v1"
api_key_env = "MY_VLLM_KEY"

[[endpoints]]
slug = "my-vllm/qwen3-vl-4b"
provider = "my-vllm"
model = "qwen3-vl-4b-reasoning"
api_model_id = "Qwen/Qwen3-VL-4B-Thinking"
prices = { input = 0.05, output = 0.2 }
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


def test_user_endpoint_is_added(tmp_path: Path) -> None:
    cat = load_catalog(user_catalog=_write(tmp_path, VLLM))
    conn = cat.connection("my-vllm/qwen3-vl-4b")
    assert conn.base_url == "http://gpu-box:8000/v1"
    assert conn.api_key_env == "MY_VLLM_KEY"
    assert conn.api_model_id == "Qwen/Qwen3-VL-4B-Thinking"
    assert conn.protocol == "openai-chat"
    assert cat.origins[("endpoint", "my-vllm/qwen3-vl-4b")] == "user"
    assert [e.slug for e in cat.endpoints_for("qwen3-vl-4b-reasoning")] == ["my-vllm/qwen3-vl-4b"]


def test_user_file_from_settings_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELATLAS_CATALOG", str(_write(tmp_path, VLLM)))
    assert load_catalog().find_endpoint("my-vllm/qwen3-vl-4b") is not None
    assert load_catalog(use_user_catalog=False).find_endpoint("my-vllm/qwen3-vl-4b") is None


def test_user_entry_amends_an_existing_one(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[[endpoints]]\nslug = "openai/gpt-5"\nprices = { input = 1.0 }\n',
    )
    cat = load_catalog(user_catalog=path)
    endpoint = cat.endpoint("openai/gpt-5")
    assert endpoint.prices.input == 1.0
    assert endpoint.prices.output == 10.0  # untouched fields keep their value
    assert endpoint.api_model_id == "gpt-5"


def test_wrong_type_names_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, VLLM.replace("input = 0.05", 'input = "cheap"'))
    with pytest.raises(UserError) as info:
        load_catalog(user_catalog=path)
    assert str(info.value.message) == (
        f"{path}: endpoints[0].prices.input: Input should be a valid number, "
        "unable to parse string as a number"
    )


def test_negative_price_and_unknown_field(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"endpoints\[0\]\.prices\.output: Input should be greater"):
        load_catalog(user_catalog=_write(tmp_path, VLLM.replace("output = 0.2", "output = -1")))
    with pytest.raises(UserError, match=r"providers\[0\]\.api_key: Extra inputs"):
        load_catalog(user_catalog=_write(tmp_path, VLLM.replace("api_key_env", "api_key")))


def test_missing_required_field(tmp_path: Path) -> None:
    text = VLLM.replace('api_model_id = "Qwen/Qwen3-VL-4B-Thinking"\n', "")
    with pytest.raises(
        UserError, match=r"catalog.toml: endpoints\[0\]\.api_model_id: Field required"
    ):
        load_catalog(user_catalog=_write(tmp_path, text))


def test_unknown_reference_suggests(tmp_path: Path) -> None:
    path = _write(
        tmp_path, VLLM.replace('model = "qwen3-vl-4b-reasoning"', 'model = "qwen3-vl-4b-reasonin"')
    )
    with pytest.raises(UserError) as info:
        load_catalog(user_catalog=path)
    assert "endpoints[0].model: unknown model 'qwen3-vl-4b-reasonin'" in info.value.message
    assert info.value.hint is not None and "qwen3-vl-4b-reasoning" in info.value.hint


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[providers]]\nslug = "x"\nname = "unterminated\n')
    with pytest.raises(UserError) as info:
        load_catalog(user_catalog=path)
    assert str(path) in info.value.message
    assert "line 3" in info.value.message


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_catalog(user_catalog=tmp_path / "nope.toml")
