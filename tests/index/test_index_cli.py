"""``modelatlas index ...`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelatlas.cli import main


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal, so that cells are not wrapped."""
    monkeypatch.setenv("COLUMNS", "200")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI; stderr comes back with rich's line wrapping undone."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, " ".join(err.split())


def unwrapped(text: str) -> str:
    """Text with every whitespace removed: finds paths that a narrow console folded."""
    return "".join(text.split())


def write_json(tmp_path: Path, data: object, name: str = "scores.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_compute_prints_69_for_gpt5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gpt5_v3_scores: dict[str, float]
) -> None:
    scores = write_json(tmp_path, gpt5_v3_scores)
    code, out, _ = run(
        ["index", "compute", "--definition", "aa-v3", "--scores", str(scores)], capsys
    )
    assert code == 0
    assert "Intelligence Index: 69\n" in out
    assert "Math Index: 94" in out
    assert "Coding Index: 53" in out


def test_compute_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gpt5_v3_scores: dict[str, float]
) -> None:
    scores = write_json(tmp_path, gpt5_v3_scores)
    argv = ["index", "compute", "-d", "aa-v3", "-s", str(scores), "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    data = json.loads(out)
    assert data["definition"] == "aa-v3"
    assert data["version"] == "3.0"
    assert data["value"] == pytest.approx(68.55)
    assert data["display"] == "69"
    assert data["complete"] is True
    assert data["missing"] == []
    assert data["sub_indices"]["math"]["value"] == pytest.approx(94)
    assert data["sub_indices"]["agentic"]["complete"] is True


def test_compute_incomplete_names_the_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gpt5_v3_scores: dict[str, float]
) -> None:
    del gpt5_v3_scores["hle"]
    del gpt5_v3_scores["tau2"]
    scores = write_json(tmp_path, gpt5_v3_scores)
    code, out, _ = run(["index", "compute", "-d", "aa-v3", "-s", str(scores)], capsys)
    assert code == 0
    assert "Intelligence Index: incomplete (missing: hle, tau2)" in out
    code, out, _ = run(["index", "compute", "-d", "aa-v3", "-s", str(scores), "--json"], capsys)
    data = json.loads(out)
    assert data["value"] is None
    assert data["complete"] is False
    assert data["missing"] == ["hle", "tau2"]
    assert data["sub_indices"]["agentic"]["missing"] == ["tau2"]
    assert data["sub_indices"]["math"]["complete"] is True


def test_unknown_definition_suggests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gpt5_v3_scores: dict[str, float]
) -> None:
    scores = write_json(tmp_path, gpt5_v3_scores)
    code, _, err = run(["index", "compute", "-d", "aa-v03", "-s", str(scores)], capsys)
    assert code != 0
    assert "Unknown index definition 'aa-v03'" in err
    assert "Did you mean: aa-v3" in err
    assert "Traceback" not in err


def test_bad_json_names_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = tmp_path / "broken.json"
    scores.write_text('{\n  "mmlu_pro": 87,\n  "gpqa": ,\n}\n')
    code, _, err = run(["index", "compute", "-d", "aa-v3", "-s", str(scores)], capsys)
    assert code != 0
    assert str(scores) in unwrapped(err)
    assert "line 3, column 11" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2]", "must hold a JSON object"),
        ('{"mmlu_pro": 150}', "'mmlu_pro'"),
        ('{"gpqa_diamond": 80}', "did you mean 'gpqa'"),
    ],
)
def test_bad_scores_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    scores = tmp_path / "scores.json"
    scores.write_text(content)
    code, _, err = run(["index", "compute", "-d", "aa-v3", "-s", str(scores)], capsys)
    assert code != 0
    assert str(scores) in unwrapped(err)
    assert expected in err


def test_missing_scores_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    code, _, err = run(["index", "compute", "-d", "aa-v3", "-s", str(missing)], capsys)
    assert code != 0
    assert str(missing) in unwrapped(err)


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["index", "list"], capsys)
    assert code == 0
    for name in ("aa-v2", "aa-v3", "aa-v4.1", "atlas-v1"):
        assert name in out
    code, out, _ = run(["index", "show", "aa-v4.1"], capsys)
    assert code == 0
    for text in ("GDPval-AA", "gdpval_aa", "Agents", "4.1", "20.0%", "sub-idx"):
        assert text in out
    code, out, _ = run(["index", "show", "aa-v3", "--json"], capsys)
    assert json.loads(out)["components"][0]["key"] == "mmlu_pro"
    code, _, err = run(["index", "show", "atlas-v2"], capsys)
    assert code != 0 and "atlas-v1" in err


def test_text_only_model_on_atlas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = [
        "mmlu_pro", "gpqa_diamond", "aime25", "math500", "gsm8k",
        "humaneval_plus", "mbpp_plus", "ifeval", "lcr", "bfcl",
    ]  # fmt: skip
    scores = write_json(tmp_path, dict.fromkeys(keys, 40))
    argv = ["index", "compute", "-d", "atlas-v1", "-s", str(scores), "--modalities", "text"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert "Intelligence Index: 40" in out
    assert "Vision Index: n/a (not applicable" in out


def test_ci_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = ["mmlu_pro", "gpqa", "hle", "livecodebench", "scicode"]
    keys += ["aime25", "ifbench", "lcr", "terminalbench_hard", "tau2"]
    items = write_json(tmp_path, {k: [0, 1, 1, 0, 1] * 20 for k in keys}, "items.json")
    argv = ["index", "ci", "-d", "aa-v3", "-i", str(items), "--n-boot", "200", "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    data = json.loads(out)
    assert data["index"]["point"] == pytest.approx(60)
    assert data["index"]["low"] < 60 < data["index"]["high"]
    code, out, _ = run(argv[:-1], capsys)
    assert code == 0 and "Intelligence Index" in out
