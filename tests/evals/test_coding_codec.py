"""The tagged-JSON codec and digests that carry values across the sandbox boundary."""

from __future__ import annotations

import json
import math

from modelatlas.evals.coding import (
    _codec,
    decode_value,
    encode_value,
    import_lines,
    sanitize_functions,
)


def roundtrip(value: object) -> object:
    return decode_value(json.loads(json.dumps(encode_value(value))))


def test_python_values_survive_json() -> None:
    value = {
        (1, 2): [1.5, (3, "x"), {4, 5}, frozenset({6})],
        "c": complex(1, -2),
        "inf": [math.inf, -math.inf],
        "big": 7**5000,
        "bytes": b"\x00\xff",
        None: True,
    }
    back = roundtrip(value)
    assert back == value
    assert type(back[(1, 2)][1]) is tuple
    assert math.isnan(roundtrip(math.nan))  # type: ignore[arg-type]


def test_unencodable_values_equal_nothing() -> None:
    back = roundtrip(iter([1]))
    assert back != back


def test_digest_equal_for_values_equal_under_eq() -> None:
    digest = _codec["digest_value"]
    assert digest([1, 2.0, True]) == digest([1, 2, 1])
    assert digest({3, 1, 2}) == digest({1, 2, 3})
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    assert digest([1, 2]) != digest((1, 2))
    assert digest(["a", "b"]) != digest(["a", "c"])


def test_sanitize_keeps_definitions_only() -> None:
    code = (
        "import math\nX = 3\n\n@staticmethod\ndef f():\n    return X\n\n"
        "print(f())\nif __name__ == '__main__':\n    f()\n"
    )
    kept, dropped = sanitize_functions(code)
    assert "def f" in kept and "@staticmethod" in kept and "import math" in kept
    assert "print" not in kept and "__main__" not in kept
    assert dropped == ["line 8: print(f())", "line 9: if __name__ == '__main__':"]


def test_prompt_imports() -> None:
    assert import_lines("from typing import List\nimport math\n\ndef f():\n    import os\n") == (
        "from typing import List\nimport math"
    )
