"""Checks that every relative link in the given Markdown/HTML files (and folders) resolves.

Links to other sites are not fetched (the machines that run the tests may be offline); a link
to a file, or to a file and an anchor, must name a file that exists, and an anchor inside an
HTML page must exist in it. Exits 1 listing every broken link.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HTML_LINK = re.compile(r"""(?:href|src)="([^"]+)\"""")
HTML_ID = re.compile(r"""\bid="([^"]+)\"""")


def targets(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    pattern = HTML_LINK if path.suffix == ".html" else MD_LINK
    return pattern.findall(text)


def broken(path: Path) -> list[str]:
    out = []
    for link in targets(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("//") or "${" in link:
            continue  # another site, mailto:, data:, javascript:, a script's template
        file, _, anchor = link.partition("#")
        target = (path.parent / file).resolve() if file else path.resolve()
        if not target.exists():
            out.append(f"{path}: {link} (no such file)")
        elif anchor and target.suffix == ".html":
            if anchor not in HTML_ID.findall(target.read_text(encoding="utf-8")):
                out.append(f"{path}: {link} (no such anchor)")
    return out


def main(args: list[str]) -> int:
    files: list[Path] = []
    for a in args:
        p = Path(a)
        files += sorted(p.rglob("*.md")) + sorted(p.rglob("*.html")) if p.is_dir() else [p]
    problems = [b for f in files for b in broken(f)]
    for p in problems:
        print(p, file=sys.stderr)
    print(f"links: {len(files)} files checked, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
