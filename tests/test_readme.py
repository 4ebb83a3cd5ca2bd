"""The README stays true: its catalogue table is the registry's, and its commands are the CI's."""

from __future__ import annotations

import re
from pathlib import Path

from conformance.catalogue import BLOCKS, block_markers

ROOT = Path(__file__).resolve().parent.parent


def test_generated_tables_are_fresh() -> None:
    text = (ROOT / "README.md").read_text()
    for name, render in BLOCKS.items():
        start, end = block_markers(name)
        match = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.DOTALL)
        assert match, f"README.md has no generated {name} block"
        assert match.group(1) == render(), (
            f"README {name} table is stale: run `entropy-atlas catalogue --write README.md`")


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"(python3? -m )?pytest[^`\n]*", readme)
    assert command is not None
    assert command.group(0).strip() in (ROOT / ".ci" / "run").read_text()


def test_readme_python_examples_run() -> None:
    """Every ```python block of the README executes (definitions only define; asserts must hold)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
