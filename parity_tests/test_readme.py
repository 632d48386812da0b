"""The README's code must run: its examples of checking a hand-written backward are executed here."""

import re
import runpy
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(heading: str) -> list[str]:
    """The ```python blocks of a '## heading' section, its ### subsections included."""
    section = README.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def run_block(tmp_path, code: str) -> dict:
    script = tmp_path / "example.py"
    script.write_text(code)
    return runpy.run_path(str(script))


def test_the_check_grads_example_runs_and_passes(tmp_path):
    report = run_block(tmp_path, python_blocks("From clone to a passing check of your own code")[0])["report"]
    assert report.ok and [row.name for row in report.rows] == ["x", "w", "b"]


def test_the_first_example_names_a_doubled_input_gradient_as_the_readme_says(tmp_path):
    code = python_blocks("From clone to a passing check of your own code")[0]
    report = run_block(tmp_path, code.replace("return dout @ w.T,", "return 2 * dout @ w.T,"))["report"]
    assert report.first_failure.name == "x" and "hand-written = 2 x reference" in str(report)


def test_the_pytest_example_passes_and_fails_on_a_wrong_backward(tmp_path):
    namespace = run_block(tmp_path, python_blocks("Checking your own backward")[0])
    namespace["test_tanh_backward"]()
    namespace["tanh_backward"].__globals__["tanh_backward"] = lambda dout, cache: dout * (1 - cache)
    try:
        namespace["test_tanh_backward"]()
    except AssertionError as error:
        assert "first disagreement: x" in str(error)
    else:
        raise AssertionError("assert_grads passed a wrong tanh backward")


def test_the_compare_example_runs_and_passes(tmp_path):
    report = run_block(tmp_path, python_blocks("Checking your own backward")[1])["report"]
    assert report.ok and [row.name for row in report.rows] == ["output", "input.grad"]
