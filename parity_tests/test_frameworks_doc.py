"""docs/frameworks.md cannot rot: every block runs, each framework's blocks in order in one namespace."""

import re
import runpy
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "frameworks.md"
FRAMEWORKS = {"# NumPy (scratch)": "numpy", "# torch": "torch", "# Lightning": "lightning"}


def sections() -> dict[str, dict[str, str]]:
    """{concept heading: {framework: code}}, read from the ### headings and the python blocks under them."""
    found = {}
    for heading, body in re.findall(r"^### (.+?)\n(.*?)(?=^### |\Z)", DOC.read_text(), re.MULTILINE | re.DOTALL):
        blocks = {}
        for code in re.findall(r"```python\n(.*?)```", body, re.DOTALL):
            first_line = code.split("\n", 1)[0]
            assert first_line in FRAMEWORKS, (
                f"block under '### {heading}' starts with {first_line!r}; "
                f"start every block with one of {list(FRAMEWORKS)}"
            )
            assert FRAMEWORKS[first_line] not in blocks, f"two {first_line} blocks under '### {heading}'"
            blocks[FRAMEWORKS[first_line]] = code
        found[heading] = blocks
    return found


def test_every_concept_is_shown_in_every_framework():
    found = sections()
    assert list(found) == ["Layer", "Model", "Loss", "Backward pass", "Optimizer step", "Data loading",
                           "Training loop", "Device placement", "Saving and loading"]
    for heading, blocks in found.items():
        assert sorted(blocks) == sorted(FRAMEWORKS.values()), f"'### {heading}' shows only {sorted(blocks)}"


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS.values()))
def test_the_blocks_of_one_framework_run_in_order(framework, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)  # the blocks save files under relative names
    namespace = {}
    for heading, blocks in sections().items():
        script = tmp_path / f"{framework}_{heading.lower().replace(' ', '_')}.py"
        script.write_text(blocks[framework])
        namespace = runpy.run_path(str(script), init_globals=namespace)
