"""The README's example runs as written and says what it claims."""

import contextlib
import io
import re
from pathlib import Path


def test_readme_example_runs() -> None:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match is not None
    code = match.group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README is ours
    printed = out.getvalue()
    assert "zswap N0=0 N1=1248\n" in printed
    assert printed.count(" class  size ") == 1
    assert "nbd://127.0.0.1:" in printed
