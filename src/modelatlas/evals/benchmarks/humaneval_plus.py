"""HumanEval+ (evalplus v0.1.10): HumanEval's 164 problems with ~80x more test inputs.

A model answers with a Python block; its function is run on every base (original) and plus
(generated) input of the problem, in one sandboxed program per problem, and passes when each
output equals the reference solution's (evalplus semantics: ``atol`` from the record when it is
non-zero, 1e-6 once float outputs appear, else exact; the ``find_zero`` oracle; each input may
take max(4 s, 4 x the reference's time)). The reference outputs are computed once in the
sandbox and cached under ``$MODELATLAS_HOME/cache/coding``, keyed by the dataset's sha256,
the sandbox's Python version and the harness.

Like evalplus for chat models, only the answer's imports, definitions and assignments run
(a demo ``print`` or ``if __name__`` block is dropped, and noted per item); unlike evalplus,
the prompt's own imports (``from typing import List``) are put before the answer, so an answer
that relies on them does not fail on a ``NameError``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from modelatlas.evals.coding import EvalPlusProblem, EvalPlusSuite
from modelatlas.evals.core import Benchmark, Category
from modelatlas.evals.datasets import DatasetFile, DatasetRowError, dataset_path
from modelatlas.evals.registry import register

VERSION = "1"

HUMANEVAL_PLUS = DatasetFile(
    key="humaneval_plus",
    title="HumanEval+ v0.1.10 (evalplus)",
    path="humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz",
    sha256="272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101",
    source="https://github.com/evalplus/humanevalplus_release (release v0.1.10)",
    url="https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus-v0.1.10.jsonl.gz",
    license="Apache-2.0",
)


class HumanEvalPlusRow(BaseModel):
    task_id: str = Field(min_length=1)
    prompt: str
    entry_point: str = Field(min_length=1)
    canonical_solution: str
    atol: float = 0.0
    base_input: list[Any]
    plus_input: list[Any]


def read_problems(data_dir: Path | None = None) -> tuple[str, dict[str, EvalPlusProblem]]:
    """(sha256, problems by task id) of the pinned HumanEval+ file."""
    path = dataset_path(HUMANEVAL_PLUS, data_dir)
    problems: dict[str, EvalPlusProblem] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = HumanEvalPlusRow.model_validate(json.loads(line))
            except (ValueError, ValidationError) as exc:
                raise DatasetRowError(str(path), number, str(exc).splitlines()[0]) from None
            problems[row.task_id] = EvalPlusProblem(**row.model_dump())
    return HUMANEVAL_PLUS.sha256, problems


SUITE = EvalPlusSuite(key="humaneval_plus", flavor="humaneval", read_problems=read_problems)


load = SUITE.load
prompt = SUITE.prompt
score = SUITE.score
score_many = SUITE.score_items


@register
def humaneval_plus() -> Benchmark:
    return Benchmark(
        key="humaneval_plus",
        display_name="HumanEval+",
        category=Category.CODING,
        version=VERSION,
        source=HUMANEVAL_PLUS.source,
        license=HUMANEVAL_PLUS.license,
        item_count=164,
        description="Python function completion, checked on the original and evalplus's "
        "extra inputs against the reference solution's outputs (pass@1).",
        load=load,
        prompt=prompt,
        score=score,
        aliases=("humanevalplus", "humaneval+"),
        tags=("code", "sandbox", "evalplus"),
    )
