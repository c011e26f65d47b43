"""The project's documents stand on their own: every relative link in README.md, PRIVACY.md, BENCHMARKS.md and
docs/ names a file of this repository (issue 12 item 16: the README linked to ../shared/DESIGN.md, which a clone
does not have)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPO / "README.md", REPO / "PRIVACY.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(document: Path) -> list[str]:
    targets = (match.group(1) for match in LINK.finditer(document.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_names_a_file_of_the_repository(document: Path) -> None:
    for target in relative_links(document):
        path = (document.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO), f"{document.name} links outside the repository: {target}"
        assert path.exists(), f"{document.name} links to a missing file: {target}"


def test_the_design_is_in_the_repository() -> None:
    design = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for section in ("## The data path", "## Seams", "## Privacy", "## The promises"):
        assert section in design
    assert "docs/architecture.md" in (REPO / "README.md").read_text(encoding="utf-8")
