"""Comparison classes, class averages and the narrative on edge cases (synthetic catalogs)."""

from __future__ import annotations

from datetime import date
from typing import Any

from modelatlas.analysis import narrative, views, wording
from modelatlas.analysis.atlas import Atlas
from modelatlas.analysis.sources import ReportedModel
from modelatlas.catalog.repository import Catalog
from modelatlas.catalog.schema import Creator, Endpoint, Model, Prices, Provider

SNAPSHOT = date(2026, 7, 31)


def model(slug: str, **fields: Any) -> Model:
    data: dict[str, Any] = {"name": slug.replace("-", " ").title(), "creator": "lab"}
    data.update(fields)
    return Model(slug=slug, **data)


def open_model(slug: str, params: float | None, *, reasoning: bool = False, **f: Any) -> Model:
    total = int(params * 1e9) if params is not None else None
    return model(slug, open_weights=True, total_params=total, reasoning=reasoning, **f)


def endpoint(model_slug: str, price_in: float | None, price_out: float | None) -> Endpoint:
    return Endpoint(
        slug=f"lab/{model_slug}",
        provider="lab",
        model=model_slug,
        api_model_id=model_slug,
        prices=Prices(input=price_in, output=price_out),
    )


def reported(slug: str, index: float | None = None, **fields: Any) -> ReportedModel:
    data: dict[str, Any] = {
        "source": "artificialanalysis",
        "snapshot_date": SNAPSHOT,
        "external_slug": slug,
        "name": slug,
        "creator_slug": "lab",
        "creator_name": "Lab",
        "release_date": None,
        "model_slug": slug,
        "index_version": "aa-v4.1",
        "evaluations": {},
        "indices": {"intelligence": index} if index is not None else {},
        "price_input": None,
        "price_output": None,
        "price_blended": None,
        "output_speed_tps": None,
        "ttft_s": None,
        "ttfat_s": None,
    }
    data.update(fields)
    return ReportedModel(**data)


def make_atlas(
    models: list[Model],
    endpoints: list[Endpoint] = (),  # type: ignore[assignment]
    rows: list[ReportedModel] = (),  # type: ignore[assignment]
) -> Atlas:
    catalog = Catalog(
        [Creator(slug="lab", name="Lab", first_party_providers=["lab"])],
        models,
        [Provider(slug="lab", name="Lab API")],
        list(endpoints),
    )
    return Atlas(catalog, reported=rows)


def text_of(atlas: Atlas, slug: str) -> str:
    entry = atlas.find(slug)
    assert entry is not None
    return " ".join(narrative.narrative(atlas, entry))


def test_wording_tiers_follow_the_reference_examples() -> None:
    assert wording.tier(14, 8, wording.HIGHER_IS_BETTER) == "well above average"
    assert wording.tier(62e6, 16e6, wording.VERBOSITY) == "very verbose"
    assert wording.tier(8, 8, wording.HIGHER_IS_BETTER) == "around average"
    assert wording.tier(2, 8, wording.HIGHER_IS_BETTER) == "well below average"
    assert wording.tier(0.1, 1.0, wording.PRICE) == "competitively priced"
    assert wording.fmt_tokens(62_000_000) == "62M"


def test_open_weights_class_and_well_above_average_sentence() -> None:
    atlas = make_atlas(
        [
            open_model("subject", 4.44, reasoning=True),
            open_model("peer-a", 4.0),
            open_model("peer-b", 3.8, reasoning=True),
            open_model("big", 30.0),
        ],
        rows=[
            reported("subject", 14),
            reported("peer-a", 6),
            reported("peer-b", 10),
            reported("big", 40),
        ],
    )
    entry = atlas.find("subject")
    assert entry is not None
    assert atlas.comparison_class(entry).slugs == ["peer-a", "peer-b"]  # "big" is Small
    stat = atlas.class_stat(entry, "intelligence_index")
    assert stat.average == 8 and stat.n == 2
    text = text_of(atlas, "subject")
    assert "scores 14 on the Intelligence Index" in text
    assert "well above average among comparable models (averaging 8 over 2 models" in text
    assert "size class Tiny (<= 4B)" in text


def test_non_reasoning_models_are_compared_only_with_non_reasoning_models() -> None:
    atlas = make_atlas(
        [
            open_model("instruct", 4.0),
            open_model("thinker", 4.0, reasoning=True),
            open_model("other-instruct", 4.0),
        ],
        rows=[reported("instruct", 5), reported("thinker", 30), reported("other-instruct", 5)],
    )
    instruct = atlas.find("instruct")
    thinker = atlas.find("thinker")
    assert instruct is not None and thinker is not None
    assert atlas.comparison_class(instruct).slugs == ["other-instruct"]
    assert sorted(atlas.comparison_class(thinker).slugs) == ["instruct", "other-instruct"]
    # The reasoning model's 30 does not lift the non-reasoning class average.
    assert atlas.class_stat(instruct, "intelligence_index").average == 5
    assert "around average" in text_of(atlas, "instruct")


def test_class_with_one_member_names_it() -> None:
    atlas = make_atlas(
        [open_model("solo", 70.0), open_model("mate", 70.0)],
        rows=[reported("solo", 20), reported("mate", 10)],
    )
    text = text_of(atlas, "solo")
    assert "its only comparable model with this figure (mate) has 10" in text
    assert "well above average" in text


def test_class_with_no_other_member() -> None:
    atlas = make_atlas([open_model("alone", 200.0)], rows=[reported("alone", 20)])
    text = text_of(atlas, "alone")
    assert "not compared with a class" in text
    assert "no other model in the catalog falls in its comparison class" in text
    entry = atlas.find("alone")
    assert entry is not None
    page = views.model_page(atlas, entry)
    index = next(s for s in page.sections if s.key == "intelligence")
    assert index.charts and "No class comparison" in index.charts[0].caption


def test_open_weights_model_without_parameter_count() -> None:
    atlas = make_atlas(
        [open_model("mystery", None), open_model("known", 4.0)],
        rows=[reported("mystery", 9), reported("known", 5)],
    )
    entry = atlas.find("mystery")
    assert entry is not None
    assert len(atlas.comparison_class(entry)) == 0
    text = text_of(atlas, "mystery")
    assert "parameter count is unknown, so it has no size class" in text
    assert "parameter count are not known" in text
    page = views.model_page(atlas, entry)
    facts = {f.label: f.value for f in page.facts}
    assert facts["Total parameters"] == "unknown"
    size = next(s for s in page.sections if s.key == "size")
    assert size.charts == [] and size.empty_reason
    faq = {q.question: q.answer for q in page.faq}
    assert "Not known" in faq["How many parameters does Mystery have?"]


def test_proprietary_model_without_price_has_no_class() -> None:
    atlas = make_atlas(
        [model("closed", open_weights=False), model("priced", open_weights=False)],
        endpoints=[endpoint("priced", 1.0, 4.0)],
        rows=[reported("closed", 30), reported("priced", 25)],
    )
    entry = atlas.find("closed")
    assert entry is not None
    assert len(atlas.comparison_class(entry)) == 0
    text = text_of(atlas, "closed")
    assert "price is unknown" in text and "no price tier" in text
    page = views.model_page(atlas, entry)
    cards = {c.key: c for c in page.cards}
    assert cards["price_input"].value == "unknown"


def test_price_zero_is_unknown_never_free() -> None:
    atlas = make_atlas(
        [model("zero", open_weights=False), model("peer", open_weights=False)],
        endpoints=[endpoint("zero", 0.0, 0.0), endpoint("peer", 0.1, 0.4)],
        rows=[reported("zero", 10, price_input=None, price_output=None)],
    )
    entry = atlas.find("zero")
    assert entry is not None
    assert "price_input" not in entry.figures and entry.price is None
    page = views.model_page(atlas, entry)
    everything = page.model_dump_json().casefold()
    assert "free" in everything  # "never free" ...
    assert everything.count("free") == everything.count("never free") + everything.count("not free")
    row = page.endpoints[0]
    assert row.price_input is None and row.price_note is not None and "unknown" in row.price_note


def test_proprietary_price_tier_class_and_price_wording() -> None:
    atlas = make_atlas(
        [
            model("cheap", open_weights=False),
            model("dear", open_weights=False),
            open_model("open-mid", 30.0),
            model("high", open_weights=False),
        ],
        endpoints=[
            endpoint("cheap", 0.2, 0.4),  # blended 0.25 -> mid
            endpoint("dear", 0.8, 1.6),  # blended 1.0 -> mid
            endpoint("open-mid", 0.5, 0.5),  # mid
            endpoint("high", 3.0, 15.0),  # high
        ],
    )
    cheap = atlas.find("cheap")
    assert cheap is not None
    assert sorted(atlas.comparison_class(cheap).slugs) == ["dear", "open-mid"]
    sentence = narrative.price_sentence(atlas, cheap)
    assert "competitively priced" in sentence
    assert "$0.20 per 1M input tokens" in sentence


def test_index_versions_are_not_averaged_together() -> None:
    atlas = make_atlas(
        [open_model("a", 4.0), open_model("b", 4.0), open_model("c", 4.0)],
        rows=[
            reported("a", 10),
            reported("b", 50, index_version="aa-v3"),
            reported("c", 20),
        ],
    )
    entry = atlas.find("a")
    assert entry is not None
    stat = atlas.class_stat(entry, "intelligence_index")
    assert stat.peers_with_data == ("c",) and stat.index_version == "aa-v4.1"


def test_superseded_notice_and_faq() -> None:
    atlas = make_atlas(
        [
            open_model("old", 4.0, superseded_by="new", context_window=262_144, license="MIT"),
            open_model("new", 4.0, name="New Model"),
        ]
    )
    entry = atlas.find("old")
    assert entry is not None
    assert narrative.superseded_notice(atlas, entry) == (
        "Lab has launched a newer model, New Model, we suggest considering this model instead."
    )
    faq = {q.question: q.answer for q in narrative.faq(atlas, entry)}
    assert "256k tokens" in faq["What is Old's context window?"]
    assert "~384 A4 pages" in faq["What is Old's context window?"]
    assert faq["Is Old a reasoning model?"].startswith("No")
    assert "MIT" in faq["Is Old open weights?"]
    assert "Is there a newer model than Old?" in faq


def test_reported_only_model_gets_an_entry_with_its_figures() -> None:
    atlas = make_atlas(
        [open_model("cat", 4.0)],
        rows=[
            reported(
                "elsewhere",
                33,
                model_slug=None,
                name="Elsewhere Pro",
                price_input=1.0,
                price_output=3.0,
                output_speed_tps=120.0,
                ttft_s=0.5,
                ttfat_s=2.5,
            )
        ],
    )
    entry = atlas.find("elsewhere")
    assert entry is not None and not entry.in_catalog
    assert entry.value("price_blended") == 1.5
    assert entry.figures["price_blended"].source.kind == "reported"
    assert entry.e2e_parts == {"input": 0.5, "thinking": 2.0, "answer": 500 / 120.0}
    page = views.model_page(atlas, entry)
    assert any(f.label == "Catalog" for f in page.facts)
    e2e = next(s for s in page.sections if s.key == "e2e")
    assert e2e.charts and e2e.charts[0].kind == "stacked"
