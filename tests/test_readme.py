"""The README stays true: its catalogue table is the registry's, and its commands are the CI's."""

from __future__ import annotations

import re
from pathlib import Path

from conformance.catalogue import END, START, render

ROOT = Path(__file__).resolve().parent.parent


def test_catalogue_table_is_generated_from_the_registry() -> None:
    text = (ROOT / "README.md").read_text()
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text, re.DOTALL)
    assert match, "README.md has no generated catalogue block"
    assert match.group(1) == render(), "README catalogue is stale: run `entropy-atlas catalogue --write README.md`"


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
