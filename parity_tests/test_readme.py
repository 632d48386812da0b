"""The README's code must run: its example of checking a hand-written backward is executed here."""

import re
import runpy
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(heading: str) -> str:
    section = README.read_text().split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_checking_your_own_backward_example_runs_and_passes(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(python_block("Checking your own backward"))
    namespace = runpy.run_path(str(script))
    assert namespace["report"].ok
    assert [row.name for row in namespace["report"].rows] == ["output", "input.grad"]
