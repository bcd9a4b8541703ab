"""Extracting the program from a model's answer."""

from __future__ import annotations

import pytest

from modelatlas.evals.code_extract import (
    NO_CODE_BLOCK,
    BlockKind,
    extract_code,
    find_code_blocks,
    parse_error,
)


def test_python_block_is_extracted() -> None:
    answer = "Here is my solution:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nDone."
    result = extract_code(answer)
    assert result.ok
    assert result.code == "def add(a, b):\n    return a + b\n"
    assert result.block is not None and result.block.tag == "python"


@pytest.mark.parametrize("tag", ["python", "py", "Python", "python3", "py3", "python title=x"])
def test_python_tags(tag: str) -> None:
    result = extract_code(f"```{tag}\nx = 1\n```")
    assert result.code == "x = 1\n"
    assert result.block is not None and result.block.kind is BlockKind.PYTHON


def test_last_complete_python_block_wins() -> None:
    answer = (
        "First try:\n```python\ndef f():\n    return 1\n```\n"
        "Better:\n```python\ndef f():\n    return 2\n```\n"
        "Run it with:\n```bash\npython main.py\n```\n"
    )
    result = extract_code(answer)
    assert result.code == "def f():\n    return 2\n"
    assert result.block_count == 3


def test_python_block_preferred_over_untagged() -> None:
    answer = "```python\nx = 1\n```\nOutput:\n```\n1\n```\n"
    assert extract_code(answer).code == "x = 1\n"


def test_untagged_block_used_without_python_blocks() -> None:
    answer = "```\nprint('hi')\n```"
    result = extract_code(answer)
    assert result.code == "print('hi')\n"
    assert result.block is not None and result.block.kind is BlockKind.UNTAGGED


def test_unterminated_fence_runs_to_the_end() -> None:
    answer = "```python\ndef f(x):\n    return x * 2\n"
    result = extract_code(answer)
    assert result.code == "def f(x):\n    return x * 2\n"
    assert result.block is not None and not result.block.terminated
    assert result.ok


def test_complete_block_preferred_over_unterminated_one() -> None:
    answer = "```python\ndef f():\n    return 1\n```\nNow a longer version:\n```python\ndef f():\n"
    result = extract_code(answer)
    assert result.code == "def f():\n    return 1\n"
    assert result.block is not None and result.block.terminated


def test_no_code_block_reason() -> None:
    result = extract_code("The answer is to use a loop.")
    assert result.code is None
    assert result.reason == NO_CODE_BLOCK
    assert not result.ok


def test_only_other_languages_named_in_reason() -> None:
    result = extract_code("```bash\nls\n```\n```json\n{}\n```")
    assert result.code is None
    assert result.reason == "no python code block (found: bash, json)"


def test_does_not_parse_is_reported_with_line() -> None:
    result = extract_code("```python\ndef f(x):\n    return (x +\n\nprint(1)\n```")
    assert result.code is not None  # kept, so reports can show what the model wrote
    assert not result.ok
    assert result.reason is not None and result.reason.startswith("does not parse: ")
    assert "(line " in result.reason
    assert result.parse_error == result.reason


def test_parse_error_message_format() -> None:
    assert parse_error("x = 1\n") is None
    assert parse_error("x = = 1\n") == "does not parse: invalid syntax (line 1)"
    message = parse_error("a = 1\nb = 2\ndef f(:\n")
    assert message is not None and message.endswith("(line 3)")
    assert parse_error("x = '\0'\x00") is not None  # null bytes do not crash the check


def test_parse_check_can_be_skipped() -> None:
    result = extract_code("```python\ndef f(:\n```", check_parse=False)
    assert result.ok and result.parse_error is None


def test_text_before_last_think_close_is_ignored() -> None:
    answer = "<think>draft:\n```python\nwrong = 1\n```\n</think>\nNo code in the final answer."
    result = extract_code(answer)
    assert result.code is None and result.reason == NO_CODE_BLOCK


def test_indented_block_is_dedented() -> None:
    answer = "1. Write this:\n\n   ```python\n   def f():\n       return 1\n   ```\n"
    assert extract_code(answer).code == "def f():\n    return 1\n"


def test_longer_fences_and_nested_backticks() -> None:
    answer = '````python\ns = """\n```\n"""\n````\n'
    assert extract_code(answer).code == 's = """\n```\n"""\n'


def test_tilde_fences() -> None:
    assert extract_code("~~~python\ny = 2\n~~~\n").code == "y = 2\n"


def test_inline_triple_backticks_are_not_fences() -> None:
    blocks = find_code_blocks("Use ```x = 1``` inline.\n```python\nz = 3\n```")
    assert [b.code for b in blocks] == ["z = 3\n"]


def test_empty_python_block_is_skipped() -> None:
    answer = "```python\nx = 1\n```\n```python\n```\n"
    assert extract_code(answer).code == "x = 1\n"
