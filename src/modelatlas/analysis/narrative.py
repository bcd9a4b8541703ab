"""The words on a model page: narrative paragraphs against the class, the lineage notice, FAQ.

Every sentence is generated from figures the page also shows, with the class average computed
over the comparison class (the model itself excluded). A missing figure is said to be missing,
with the reason; a price of 0 is unknown, never "free".
"""

from __future__ import annotations

from pydantic import BaseModel

from modelatlas.analysis import wording
from modelatlas.analysis.atlas import Atlas, ClassStat, Entry
from modelatlas.catalog import derived


class FaqItem(BaseModel):
    question: str
    answer: str


def _index_title(atlas: Atlas, version: str | None) -> str:
    if version and version in atlas.definitions:
        definition = atlas.definitions[version]
        return f"Intelligence Index ({definition.title})"
    return f"Intelligence Index ({version})" if version else "Intelligence Index"


def class_phrase(atlas: Atlas, entry: Entry) -> str:
    """Who the model is compared with, in words."""
    return atlas.comparison_class(entry).description


def _average_clause(stat: ClassStat, formatted_average: str) -> str:
    if stat.n == 1:
        peer = stat.peers_with_data[0]
        return f"its only comparable model with this figure ({peer}) has {formatted_average}"
    return f"averaging {formatted_average} over {stat.n} models"


def _no_class_reason(atlas: Atlas, entry: Entry) -> str | None:
    """Why a model has no comparison class, or None when it has one."""
    cls = atlas.comparison_class(entry)
    if cls.basis == "open-weights" and cls.size_class is None:
        return (
            "its parameter count is unknown, so it has no size class and is not compared "
            "with other open-weights models"
        )
    if cls.basis == "proprietary" and cls.price_tier is None:
        return (
            "its price is unknown (missing, or reported as 0, which means unknown, not free), "
            "so it has no price tier and is not compared with other models"
        )
    if len(cls) == 0:
        return "no other model in the catalog falls in its comparison class"
    return None


def intelligence_sentence(atlas: Atlas, entry: Entry) -> str:
    figure = entry.figures.get("intelligence_index")
    name = entry.name
    if figure is None:
        return (
            f"{name} has no Intelligence Index score yet: no imported source reported one and "
            "no evaluation run measured here computed one."
        )
    version = figure.source.index_version
    value = wording.fmt_number(figure.value)
    head = f"{name} scores {value} on the {_index_title(atlas, version)}"
    head += f", {figure.source.label}"
    reason = _no_class_reason(atlas, entry)
    if reason is not None:
        return f"{head}. It is not compared with a class: {reason}."
    stat = atlas.class_stat(entry, "intelligence_index")
    if stat.average is None:
        return (
            f"{head}. None of its comparable models ({class_phrase(atlas, entry)}) has a "
            f"score of the same index version ({version}), so there is no class average."
        )
    words = wording.tier(figure.value, stat.average, wording.HIGHER_IS_BETTER)
    avg = wording.fmt_number(stat.average)
    return (
        f"{head}, placing it {words} among comparable models "
        f"({_average_clause(stat, avg)}; {class_phrase(atlas, entry)})."
    )


def verbosity_sentence(atlas: Atlas, entry: Entry) -> str | None:
    figure = entry.figures.get("verbosity")
    if figure is None:
        return None
    tokens = wording.fmt_tokens(figure.value)
    text = f"When evaluated on the Intelligence Index, it generated {tokens} tokens"
    if figure.source.sample:
        text += " (on a sample of the items)"
    stat = atlas.class_stat(entry, "verbosity")
    if stat.average is None or _no_class_reason(atlas, entry) is not None:
        return text + "; no comparable model has a token count to compare with."
    words = wording.tier(figure.value, stat.average, wording.VERBOSITY)
    return (
        f"{text}, which is {words} in comparison to the average of "
        f"{wording.fmt_tokens(stat.average)}."
    )


def price_sentence(atlas: Atlas, entry: Entry) -> str:
    price_in = entry.figures.get("price_input")
    price_out = entry.figures.get("price_output")
    blended = entry.figures.get("price_blended")
    endpoints = atlas.catalog.endpoints_for(entry.slug) if entry.in_catalog else []
    if price_in is None or price_out is None or blended is None:
        if endpoints and all(e.self_hosted for e in endpoints):
            return "It runs self-hosted here: it has no API price (its cost is your own hardware)."
        return (
            "Its price is unknown: no endpoint or source states a price (a price of 0 means "
            "unknown, never free), so no pricing comparison is made."
        )
    text = (
        f"At {wording.fmt_price(price_in.value)} per 1M input tokens and "
        f"{wording.fmt_price(price_out.value)} per 1M output tokens "
        f"({wording.fmt_price(blended.value)} blended 3:1, {blended.source.label})"
    )
    stat = atlas.class_stat(entry, "price_blended")
    if stat.average is None or _no_class_reason(atlas, entry) is not None:
        return text + ", it has no comparable model with a known price to compare with."
    words = wording.tier(blended.value, stat.average, wording.PRICE)
    return (
        f"{text}, it is {words} compared with the average of "
        f"{wording.fmt_price(stat.average)} blended."
    )


def speed_sentence(atlas: Atlas, entry: Entry) -> str:
    figure = entry.figures.get("output_speed")
    if figure is None:
        return (
            "Its output speed is unknown: nothing was measured here and no imported source "
            "reported a speed."
        )
    text = (
        f"It generates output at {wording.fmt_number(figure.value)} tokens per second "
        f"({figure.source.label})"
    )
    stat = atlas.class_stat(entry, "output_speed")
    if stat.average is None or _no_class_reason(atlas, entry) is not None:
        return text + "; no comparable model has a speed to compare with."
    words = wording.tier(figure.value, stat.average, wording.SPEED)
    return f"{text}, {words} ({wording.fmt_number(stat.average)} tokens per second)."


def facts_sentence(entry: Entry) -> str:
    model = entry.model
    parts: list[str] = []
    if model.context_window:
        label = derived.context_label(model.context_window)
        pages = derived.context_pages_text(model.context_window)
        parts.append(f"a context window of {label} tokens ({pages} of size 12 Arial)")
    size = derived.size_class(model.total_params)
    if model.total_params:
        total = derived.params_label(model.total_params)
        text = f"{total} parameters"
        if model.active_params:
            text += f" ({derived.params_label(model.active_params)} active)"
        if size is not None and model.open_weights:
            text += f", size class {size.label}"
        parts.append(text)
    if not parts:
        return f"{entry.name}'s context window and parameter count are not known."
    text = f"{entry.name} has " + " and ".join(parts) + "."
    if not model.total_params:
        text += " Its parameter count is not known."
    return text


def narrative(atlas: Atlas, entry: Entry) -> list[str]:
    """The narrative paragraphs of a model page."""
    first = [intelligence_sentence(atlas, entry)]
    verbose = verbosity_sentence(atlas, entry)
    if verbose:
        first.append(verbose)
    return [
        " ".join(first),
        price_sentence(atlas, entry) + " " + speed_sentence(atlas, entry),
        facts_sentence(entry),
    ]


def superseded_notice(atlas: Atlas, entry: Entry) -> str | None:
    """ "<creator> has launched a newer model, <name>, we suggest considering this model instead."""
    successor = atlas.catalog.successor(entry.model) if entry.in_catalog else None
    if successor is None:
        return None
    creator = entry.creator_name or "The creator"
    return (
        f"{creator} has launched a newer model, {successor.name}, "
        "we suggest considering this model instead."
    )


def _yes_no(value: bool | None, yes: str, no: str, unknown: str) -> str:
    if value is None:
        return unknown
    return yes if value else no


def faq(atlas: Atlas, entry: Entry) -> list[FaqItem]:
    """Questions and answers generated from the facts (unknowns said to be unknown)."""
    model = entry.model
    name = entry.name
    out: list[FaqItem] = []

    def add(question: str, answer: str) -> None:
        out.append(FaqItem(question=question, answer=answer))

    creator = entry.creator_name or "an unknown creator"
    released = f", released {model.release_date}" if model.release_date else ""
    add(f"Who created {name}?", f"{name} was created by {creator}{released}.")
    index = entry.figures.get("intelligence_index")
    add(
        f"How intelligent is {name}?",
        intelligence_sentence(atlas, entry)
        if index
        else f"{name} has no Intelligence Index score yet.",
    )
    add(
        f"Is {name} a reasoning model?",
        _yes_no(
            model.reasoning,
            f"Yes, {name} is a reasoning model: it thinks before it answers.",
            f"No, {name} is not a reasoning model.",
            f"Not known: the catalog does not say whether {name} reasons.",
        ),
    )
    add(
        f"Is {name} open weights?",
        _yes_no(
            model.open_weights,
            f"Yes, {name}'s weights are published"
            + (f" under the {model.license} license" if model.license else "")
            + (f" ({model.weights_url})." if model.weights_url else "."),
            f"No, {name} is a proprietary model available through APIs.",
            f"Not known: the catalog does not say whether {name}'s weights are published.",
        ),
    )
    if model.context_window:
        add(
            f"What is {name}'s context window?",
            f"{derived.context_label(model.context_window)} tokens "
            f"({model.context_window:,} tokens, "
            f"{derived.context_pages_text(model.context_window)} of size 12 Arial).",
        )
    else:
        add(f"What is {name}'s context window?", "Not known.")
    if model.total_params:
        answer = f"{derived.params_label(model.total_params)} parameters in total"
        if model.active_params:
            answer += f", {derived.params_label(model.active_params)} active per token"
        add(f"How many parameters does {name} have?", answer + ".")
    else:
        add(f"How many parameters does {name} have?", "Not known: no source states a count.")
    inputs = ", ".join(model.input_modalities) or "not known"
    outputs = ", ".join(model.output_modalities) or "not known"
    add(
        f"What inputs and outputs does {name} support?",
        f"Input: {inputs}. Output: {outputs}.",
    )
    add(f"How much does {name} cost?", price_sentence(atlas, entry))
    add(f"How fast is {name}?", speed_sentence(atlas, entry))
    notice = superseded_notice(atlas, entry)
    if notice:
        add(f"Is there a newer model than {name}?", notice)
    return out
