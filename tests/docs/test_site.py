"""The documentation site builds with ``mkdocs build --strict`` (warnings, broken links and
missing anchors included, fail it), and has the pages the nav promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "mkdocs.yml"
ENVIRONMENT_PAGES = ["market_making", "daily_investor", "execution", "otc", "otc_lp"]
BUILD_TIMEOUT_S = 300


def mkdocs_build(config: Path, site_dir: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``config`` into ``site_dir``, from the repository root."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site_dir)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)


def load_config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def nav_pages(nav: list) -> list[str]:
    """Every Markdown file the nav names, depth first."""
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def html_path(site: Path, page: str) -> Path:
    """Where mkdocs writes ``page`` (directory URLs: ``a/b.md`` -> ``a/b/index.html``)."""
    stem = page.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return site / stem.removesuffix("index") / "index.html"
    return site / stem / "index.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    proc = mkdocs_build(CONFIG, site_dir)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return site_dir


@pytest.mark.xdist_group("docs")
def test_every_nav_page_is_built(site):
    pages = nav_pages(load_config()["nav"])
    assert "quickstart.md" in pages and "interop.md" in pages and "reference/interop.md" in pages
    assert all(f"environments/{name}.md" in pages for name in ENVIRONMENT_PAGES)
    missing = [page for page in pages if not html_path(site, page).is_file()]
    assert missing == []


@pytest.mark.xdist_group("docs")
def test_the_api_reference_documents_the_order_book(site):
    html = (site / "reference" / "lob" / "index.html").read_text()
    assert 'id="jaxmarket.lob.matching.apply"' in html and 'id="jaxmarket.lob.messages.limit"' in html
    assert "Apply one message to one book" in html  # the docstring's summary, rendered


@pytest.mark.xdist_group("docs")
def test_the_benchmarks_page_includes_the_results_file(site):
    html = (site / "benchmarks" / "index.html").read_text()
    assert "--8&lt;--" not in html and "--8<--" not in html
    for heading in (ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines():
        if heading.startswith("## "):
            assert heading.removeprefix("## ").split(":")[0] in html


@pytest.mark.parametrize("page, fails", [
    ("[a page](other.md) and [a heading](other.md#a-heading)", False),
    ("[a page](missing.md)", True),
    ("[a heading](other.md#no-such-heading)", True),
])
def test_strict_mode_fails_on_a_broken_link_or_anchor(tmp_path, page, fails):
    """The repository's validation settings under --strict, on a two-page site (no API reference)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(f"# Home\n\nSee {page}.\n")
    (docs / "other.md").write_text("# Other\n\n## A heading\n\nText.\n")
    repo = load_config()
    config = {"site_name": "check", "docs_dir": str(docs), "strict": True, "validation": repo["validation"],
              "markdown_extensions": repo["markdown_extensions"], "plugins": ["search"]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    proc = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert (proc.returncode != 0) == fails, proc.stderr[-3000:]
    if fails:
        assert "WARNING" in proc.stderr and "Doc file 'index.md'" in proc.stderr, proc.stderr[-3000:]
