"""examples/: each style checks its own correct code in float64 and float32 with at most 5 statements of glue, and
the report names its planted bug at the right tensor."""

import ast
import inspect
import textwrap

import pytest
from helpers import DTYPES, ROOT, load_example, run

EXAMPLES = {path.stem: load_example(path.stem) for path in sorted((ROOT / "examples").glob("*.py"))}


def glue_statements(function) -> int:
    """Statements in the function's body, nested ones included; a docstring and a statement whose first line is
    marked "# lifted" (the user's own line, unchanged) do not count."""
    source = textwrap.dedent(inspect.getsource(function))
    lines = source.splitlines()

    def count(statements) -> int:
        total = 0
        for s in statements:
            docstring = isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)
            if not docstring and "# lifted" not in lines[s.lineno - 1]:
                total += 1 + count(getattr(s, "body", [])) + count(getattr(s, "orelse", []))
        return total

    return count(ast.parse(source).body[0].body)


def checks(module) -> dict:
    return {name: f for name, f in vars(module).items()
            if name.startswith("check") and inspect.isfunction(f) and f.__module__ == module.__name__}


def test_every_style_of_the_issue_has_an_example():
    assert sorted(EXAMPLES) == ["cs231n_layers", "deeplearning_ai", "keras_like", "lecture_two_layer",
                                "makemore_ninja", "nielsen_network", "nnfs_objects"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_glue_is_at_most_five_statements_per_check(name):
    counts = {check: glue_statements(f) for check, f in checks(EXAMPLES[name]).items()}
    assert counts and max(counts.values()) <= 5, counts


def test_glue_counting_counts_nested_statements_and_skips_lifted_lines():
    def sample(x):
        """A docstring."""
        def inner():
            y = x  # lifted
            return y

        for _ in range(2):
            x = x + 1
        return inner

    assert glue_statements(sample) == 5  # def, its return, for, its body, return


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_correct_code_passes(name, dtype):
    for check, report in EXAMPLES[name].run(dtype).items():
        assert report.ok, f"{name}.{check}:\n{report}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_planted_bug_is_named_at_the_right_tensor(name, dtype):
    planted = EXAMPLES[name].PLANTED
    report = EXAMPLES[name].run(dtype, planted=True)[planted["check"]]
    assert report.first_failure is not None and report.first_failure.name == planted["expected"], f"\n{report}"


def test_the_sweep_script_runs():
    result = run("scripts/examples_sweep.py", "--seeds", "1")
    assert result.returncode == 0 and result.stdout.strip().endswith("PASS"), result.stdout + result.stderr


@pytest.mark.slow
def test_twenty_seeds_without_a_false_alarm_and_every_bug_named():
    result = run("scripts/examples_sweep.py", "--seeds", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("false alarms 0/20 seeds") == 2 * len(EXAMPLES)
    assert "0 missed or misnamed" in result.stdout


def test_an_example_runs_as_a_script():
    result = run("examples/keras_like.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("all tensors agree") == 2 and "first disagreement: W[0]" in result.stdout
