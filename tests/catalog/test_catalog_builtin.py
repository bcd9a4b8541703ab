"""The built-in facts: valid, complete enough, and exact where it matters."""

from __future__ import annotations

import re
from collections import Counter

from modelatlas.catalog import DEFAULT_ENDPOINT, load_catalog
from modelatlas.catalog.derived import PriceTier, SizeClass, size_class
from modelatlas.catalog.files import load_builtin
from modelatlas.catalog.importers import model_key


def test_builtin_file_validates_and_is_consistent() -> None:
    data = load_builtin()
    models = {m.slug for m in data.models}
    providers = {p.slug for p in data.providers}
    creators = {c.slug for c in data.creators}
    for endpoint in data.endpoints:
        assert endpoint.model in models, endpoint.slug
        assert endpoint.provider in providers, endpoint.slug
    for model in data.models:
        assert model.creator in creators, model.slug
        if model.superseded_by:
            assert model.superseded_by in models, model.slug
    for kind, slugs in (
        ("model", [m.slug for m in data.models]),
        ("endpoint", [e.slug for e in data.endpoints]),
        ("provider", [p.slug for p in data.providers]),
    ):
        dupes = [s for s, n in Counter(slugs).items() if n > 1]
        assert not dupes, (kind, dupes)


def test_aliases_name_one_model_each() -> None:
    owner: dict[str, str] = {}
    for model in load_builtin().models:
        for name in (model.slug, *model.aliases):
            key = model_key(name)
            assert owner.setdefault(key, model.slug) == model.slug, (name, owner[key])


def test_at_least_40_real_models_across_size_classes_and_price_tiers() -> None:
    cat = load_catalog(use_user_catalog=False)
    real = cat.models(include_simulated=False)
    assert len(real) >= 40
    classes = {size_class(m.total_params) for m in real if m.open_weights}
    assert {SizeClass.TINY, SizeClass.SMALL, SizeClass.MEDIUM, SizeClass.LARGE} <= classes
    tiers = {p.tier for m in real if (p := cat.price_of(m.slug)) is not None}
    assert {PriceTier.LOW, PriceTier.MID, PriceTier.HIGH} <= tiers


def test_qwen3_vl_4b_reasoning_facts() -> None:
    cat = load_catalog(use_user_catalog=False)
    m = cat.model("qwen3-vl-4b-reasoning")
    assert m.name == "Qwen3 VL 4B (Reasoning)"
    assert m.reasoning is True
    assert m.input_modalities == ["text", "image"]
    assert m.output_modalities == ["text"]
    assert m.context_window == 262_144
    assert m.total_params == 4_440_000_000
    assert m.license == "Apache-2.0"
    assert m.open_weights is True
    assert m.release_date == "2025-10-14"
    assert m.creator == "alibaba"
    assert m.superseded_by == "qwen3.5-4b"
    twin = cat.model("qwen3-vl-4b-instruct")
    assert twin.family == m.family and twin.reasoning is False
    assert twin.superseded_by == "qwen3.5-4b"
    assert [x.slug for x in cat.family(m)] == ["qwen3-vl-4b-instruct"]


def test_required_models_are_present() -> None:
    cat = load_catalog(use_user_catalog=False)
    for slug in [
        "qwen3.5-4b",
        "qwen3-4b-2507-instruct",
        "qwen3-4b-2507-reasoning",
        "gemma-3-4b",
        "phi-4-mini",
        "gpt-oss-20b",
        "gpt-oss-120b",
        "llama-3.1-8b-instruct",
        "llama-3.1-70b-instruct",
        "llama-3.1-405b-instruct",
        "llama-3.3-70b-instruct",
        "llama-4-scout",
        "llama-4-maverick",
        "mistral-small-3.2",
        "deepseek-v3.2",
        "deepseek-r1-0528",
        "gpt-5",
        "claude-sonnet-4.5",
        "gemini-2.5-pro",
        "smollm2-135m-instruct",
    ]:
        cat.model(slug)
    # the reference site's slugs resolve too
    assert cat.model("qwen3-5-4b").slug == "qwen3.5-4b"
    assert cat.model("Qwen/Qwen3-VL-4B-Thinking").slug == "qwen3-vl-4b-reasoning"


def test_default_endpoint_is_the_embedded_local_model() -> None:
    cat = load_catalog(use_user_catalog=False)
    endpoint = cat.default_endpoint()
    assert endpoint.slug == DEFAULT_ENDPOINT == "local/smollm2-135m"
    assert endpoint.managed == "llama-cpp"
    assert endpoint.self_hosted and endpoint.protocol == "openai-chat"
    conn = cat.connection(DEFAULT_ENDPOINT)
    assert conn.base_url == "http://127.0.0.1:{port}/v1"
    model = cat.model(endpoint.model)
    assert model.slug == "smollm2-135m-instruct"
    assert model.total_params == 135_000_000 and model.context_window == 8192
    assert model.license == "Apache-2.0" and model.open_weights and not model.reasoning
    assert cat.endpoint("sim/simulated").managed == "sim"


def test_endpoints_name_key_variables_never_keys() -> None:
    cat = load_catalog(use_user_catalog=False)
    for provider in cat.providers():
        if provider.api_key_env is not None:
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", provider.api_key_env), provider.slug
    assert cat.connection("openai/gpt-5").api_key_env == "OPENAI_API_KEY"
    assert cat.connection("openai/gpt-5").base_url == "https://api.openai.com/v1"
