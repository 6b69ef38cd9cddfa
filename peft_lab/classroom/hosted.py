"""Hosted Jupyter (Colab and the like): the setup cell installs peft_lab when it is missing.

Every notebook's setup cell imports peft_lab through :func:`install_block`: where the package is
importable (``python3 dev.py lab``, nbval in CI) the ``try`` succeeds and nothing else runs, with no
network; where it is not, the cell says so in Chinese, clones the repository (the committed
``results/`` live there, not in the package) and installs it in editable mode.

The repository's address is written once, as ``[project.urls] Repository`` in pyproject.toml. The
notebooks cannot read it (on Colab they arrive alone), so :func:`stamp` copies it into their setup
cells; a fork changes pyproject.toml and runs ``python -m peft_lab.classroom stamp``, and
tests/test_classroom.py checks that all six notebooks carry the same block.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT = "import peft_lab as pl"
CLONE_DIR = "peft-lab"


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """``[project.urls] Repository`` of pyproject.toml (read as text: tomllib is Python 3.11+)."""
    text = pyproject.read_text(encoding="utf-8")
    section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    url = section and re.search(r'^Repository\s*=\s*"([^"]+)"', section.group(1), re.M)
    if not url:
        raise ValueError(f"{pyproject} has no [project.urls] Repository = \"...\" entry")
    return url.group(1)


def install_block(url: str) -> list[str]:
    """The setup cell's import of peft_lab, installing it from ``url`` when it is missing."""
    if not re.fullmatch(r"https://\S+", url):
        raise ValueError(f"url={url!r} must be an https:// address of a git repository")
    return [
        "try:",
        f"    {IMPORT}",
        "except ModuleNotFoundError:   # 托管的 Jupyter（如 Colab）没有 peft_lab：从仓库安装",
        f'    REPOSITORY = "{url}"',
        '    print(f"没有找到 peft_lab：正在从 {REPOSITORY} 下载并安装（需要联网，几分钟）……")',
        f"    !git clone --depth 1 {{REPOSITORY}} {CLONE_DIR}",
        f"    %pip install -q -e {CLONE_DIR}",
        f'    import sys; sys.path.insert(0, "{CLONE_DIR}"); {IMPORT}',
    ]


def _setup_cell(nb: dict) -> dict:
    cell = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    if cell is None:
        raise ValueError("the notebook has no code cell, so no setup cell")
    return cell


def _lines(cell: dict) -> list[str]:
    src = cell["source"]
    return ("".join(src) if isinstance(src, list) else src).split("\n")


def installs_from(nb: dict) -> str | None:
    """The repository the setup cell installs from, when it holds exactly :func:`install_block`."""
    lines = _lines(_setup_cell(nb))
    for i, line in enumerate(lines):
        m = re.fullmatch(r'    REPOSITORY = "(\S+)"', line)
        if m and lines[i - 3:i + 5] == install_block(m.group(1)):
            return m.group(1)
    return None


def imports_before_install(nb: dict) -> list[str]:
    """The setup cell's import lines that run before :func:`install_block`. There should be none: a
    module imported first (torch, say) stays loaded in the kernel at its old version while the
    install replaces its files, and a hosted kernel would then need a restart."""
    lines = _lines(_setup_cell(nb))
    end = next((i for i, line in enumerate(lines) if line == "try:"), len(lines))
    return [line for line in lines[:end] if re.match(r"(import|from)\s", line)]


def stamp(nb: dict, url: str) -> dict:
    """Make the setup cell import peft_lab through :func:`install_block` for ``url`` (in place),
    first after the cell's leading magics, so that nothing is imported before the install."""
    cell = _setup_cell(nb)
    lines = _lines(cell)
    if (old := installs_from(nb)) is not None:
        start = lines.index(f'    REPOSITORY = "{old}"') - 3
        del lines[start:start + len(install_block(old))]
    elif IMPORT in lines:
        lines.remove(IMPORT)
    else:
        raise ValueError(f"the setup cell has no line {IMPORT!r} to replace")
    first = next((i for i, line in enumerate(lines) if not line.startswith("%")), len(lines))
    while first < len(lines) and not lines[first].strip():
        del lines[first]
    lines[first:first] = install_block(url) + [""] * (first < len(lines))
    cell["source"] = "\n".join(lines)
    return nb
