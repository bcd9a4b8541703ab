"""MBPP+ (evalplus v0.2.0): 378 sanitized MBPP problems with ~35x more test inputs.

Scored like HumanEval+ (see :mod:`modelatlas.evals.benchmarks.humaneval_plus`): the model's
function runs on every base and plus input in one sandboxed program per problem and must
reproduce the reference solution's outputs, with evalplus's MBPP oracles (set comparison for
eight tasks, "not None" for three, and the Mbpp/164, 295, 558 and 581 special cases). The
inputs are restored to the types evalplus gives them (tuples, sets, complex numbers), since
JSON only has lists. The records' ``assertion`` field (the original MBPP asserts) is not used
for grading, as in evalplus: the base inputs are those asserts' inputs.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from modelatlas.evals.coding import EvalPlusProblem, EvalPlusSuite
from modelatlas.evals.core import Benchmark, Category
from modelatlas.evals.datasets import DatasetFile, DatasetRowError, dataset_path
from modelatlas.evals.registry import register

VERSION = "1"

MBPP_PLUS = DatasetFile(
    key="mbpp_plus",
    title="MBPP+ v0.2.0 (evalplus)",
    path="mbppplus/MbppPlus-v0.2.0.jsonl.gz",
    sha256="af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63",
    source="https://github.com/evalplus/mbppplus_release (release v0.2.0)",
    url="https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus-v0.2.0.jsonl.gz",
    license="Apache-2.0",
)

# evalplus's special oracles (evalplus/eval/_special_oracle.py), by entry point.
OUTPUT_NOT_NONE = ("check_str", "text_match_three", "text_starta_endb")
OUTPUT_SET_EQ = (
    "similar_elements",
    "find_char_long",
    "common_in_nested_lists",
    "extract_singly",
    "larg_nnum",
    "intersection_array",
    "find_dissimilar",
    "Diff",
)

# Which tasks' JSON inputs evalplus turns back into tuples, sets or complex numbers
# (evalplus/data/mbpp.py, mbpp_deserialize_inputs), by MBPP task number.
_ARGS_TO_TUPLES = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579}
_ARGS_TO_TUPLES |= {596, 616, 630, 726, 740, 744, 809}
_NESTED_TO_TUPLES = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_FIRST_NESTED_TO_TUPLES = {75, 413, 444, 753}
_SECOND_TO_TUPLE = {106, 750}
_FIRST_TO_TUPLE = {250, 405, 446, 617, 720, 763, 808}
_NESTED_THEN_ARGS = {259, 401, 445}
_ALL_TO_TUPLES = {580, 615, 791}


def _deep_tuple(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_deep_tuple(v) for v in value)
    return value


def deserialize_inputs(task_id: str, inputs: list[Any]) -> list[Any]:
    """evalplus's ``mbpp_deserialize_inputs``: the argument types JSON could not keep."""
    number = int(task_id.split("/")[-1])
    if number in _ARGS_TO_TUPLES:
        return [[tuple(arg) for arg in inp] for inp in inputs]
    if number in _NESTED_TO_TUPLES:
        return [[[tuple(x) for x in arg] for arg in inp] for inp in inputs]
    if number in _FIRST_NESTED_TO_TUPLES:
        return [[[tuple(x) for x in inp[0]], inp[1]] for inp in inputs]
    if number in _SECOND_TO_TUPLE:
        return [[inp[0], tuple(inp[1])] for inp in inputs]
    if number == 115:
        return [
            [[set(x) if isinstance(x, list) and len(x) else {} for x in inp[0]]] for inp in inputs
        ]
    if number == 124:
        return [[float(inp[0]), complex(inp[1])] for inp in inputs]
    if number in _FIRST_TO_TUPLE:
        return [[tuple(inp[0]), *inp[1:]] for inp in inputs]
    if number in _NESTED_THEN_ARGS:
        nested = [[[tuple(x) for x in arg] for arg in inp] for inp in inputs]
        return [[tuple(arg) for arg in inp] for inp in nested]
    if number == 278:
        first = [[[tuple(x) if isinstance(x, list) else x for x in inp[0]]] for inp in inputs]
        return [[tuple(arg) for arg in inp] for inp in first]
    if number == 307:
        return [[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]
    if number == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}, *inp[1:]] for inp in inputs]
    if number == 252:
        return [[complex(inp[0])] for inp in inputs]
    if number in _ALL_TO_TUPLES:
        return [_deep_tuple(inp) for inp in inputs]
    return inputs


class MbppPlusRow(BaseModel):
    task_id: str = Field(min_length=1)
    prompt: str
    entry_point: str = Field(min_length=1)
    canonical_solution: str
    atol: float = 0.0
    base_input: list[Any]
    plus_input: list[Any]
    assertion: str = ""

    @field_validator("base_input", "plus_input", mode="before")
    @classmethod
    def _empty_dict_is_no_inputs(cls, value: Any) -> Any:
        # Mbpp/793 has ``"plus_input": {}`` (no plus inputs) in v0.2.0.
        return [] if value == {} else value


def read_problems(data_dir: Path | None = None) -> tuple[str, dict[str, EvalPlusProblem]]:
    """(sha256, problems by task id) of the pinned MBPP+ file, inputs deserialized."""
    path = dataset_path(MBPP_PLUS, data_dir)
    problems: dict[str, EvalPlusProblem] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = MbppPlusRow.model_validate(json.loads(line))
                base = deserialize_inputs(row.task_id, row.base_input)
                plus = deserialize_inputs(row.task_id, row.plus_input)
            except (ValueError, TypeError, IndexError, ValidationError) as exc:
                raise DatasetRowError(str(path), number, str(exc).splitlines()[0]) from None
            problems[row.task_id] = EvalPlusProblem(
                task_id=row.task_id,
                prompt=row.prompt,
                entry_point=row.entry_point,
                canonical_solution=row.canonical_solution,
                atol=row.atol,
                base_input=base,
                plus_input=plus,
            )
    return MBPP_PLUS.sha256, problems


SUITE = EvalPlusSuite(
    key="mbpp_plus",
    flavor="mbpp",
    read_problems=read_problems,
    set_eq=OUTPUT_SET_EQ,
    not_none=OUTPUT_NOT_NONE,
)


load = SUITE.load
prompt = SUITE.prompt
score = SUITE.score
score_many = SUITE.score_items


@register
def mbpp_plus() -> Benchmark:
    return Benchmark(
        key="mbpp_plus",
        display_name="MBPP+",
        category=Category.CODING,
        version=VERSION,
        source=MBPP_PLUS.source,
        license=MBPP_PLUS.license,
        item_count=378,
        description="Basic Python programming problems, checked on the original and "
        "evalplus's extra inputs against the reference solution's outputs (pass@1).",
        load=load,
        prompt=prompt,
        score=score,
        aliases=("mbppplus", "mbpp+"),
        tags=("code", "sandbox", "evalplus"),
    )
