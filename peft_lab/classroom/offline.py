"""Nothing fetched at presentation or reading time: vendored reveal.js and MathJax, and a check.

reveal.js comes from the pinned ``sphinx-revealjs`` wheel (it ships reveal.js's ``dist/`` and
``plugin/``), MathJax 2 (the version nbconvert's templates drive) from ``jupyter-server-mathjax``;
both are in the ``classroom`` extra. :func:`place` copies them next to a build, and
:func:`remote_references` finds anything a page would still load from the network.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

STATIC = "_static"
REVEAL = f"{STATIC}/reveal.js"
MATHJAX = f"{STATIC}/mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"   # a configuration jupyter-server-mathjax ships
EXTRA = "pip install -e '.[classroom]'"
# jupyter-server-mathjax ships only the STIX-Web fonts; MathJax's default (TeX) would be fetched and
# fail, so a page (deck or book) merges this into its MathJax.Hub.Config, as classic Jupyter did
MATHJAX_FONTS = {"HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None},
                 "SVG": {"font": "STIX-Web"}}


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{module} is not installed; it ships an asset the offline builds vendor "
                                  f"(install the classroom extra: {EXTRA})")
    return Path(spec.origin).parent


def reveal_source() -> Path:
    """reveal.js as shipped by sphinx-revealjs (``dist/reveal.js``, ``plugin/notes/notes.js``, themes)."""
    return _package_dir("sphinx_revealjs") / "_static" / "revealjs"


def mathjax_source() -> Path:
    """MathJax 2 as shipped by jupyter-server-mathjax (``MathJax.js``, ``config/``, ``jax/``, fonts)."""
    return _package_dir("jupyter_server_mathjax") / "static"


def place(dest: Path, reveal: bool = True) -> None:
    """Copy MathJax (and reveal.js) into ``dest/_static`` (once: an existing copy is kept)."""
    for source, target in ((mathjax_source(), dest / MATHJAX), *(((reveal_source(), dest / REVEAL),) if reveal else ())):
        if not target.exists():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.map", "*.esm.js"))


# a tag that loads something (not <a href>, which only links), a CSS url(), a JS import or require
_LOADS = re.compile(r"""<(?:script|link|img|iframe|source|embed|object)\b[^>]*?\b(?:src|href|data)\s*=\s*["']?((?:https?:)?//[^"'\s>]+)""",
                    re.I)
_CSS_URL = re.compile(r"""url\(\s*["']?((?:https?:)?//[^"')\s]+)""", re.I)
_JS_IMPORT = re.compile(r"""(?:import\s[^;]*?from\s*|import\(\s*|require\(\s*\[?\s*)["']((?:https?:)?//[^"']+)""", re.I)
CDN_HOSTS = ("unpkg.com", "cdnjs.cloudflare.com", "cdn.jsdelivr.net", "fonts.googleapis.com", "code.jquery.com",
             "ajax.googleapis.com")


def remote_references(page: str) -> list[str]:
    """Addresses that ``page`` (HTML, CSS or JS) would load from the network, plus any mention of a
    known CDN host in a quoted string (a script may build the tag itself)."""
    found = [m for rx in (_LOADS, _CSS_URL, _JS_IMPORT) for m in rx.findall(page)]
    found += [m for m in re.findall(r"""["']([^"'\s]*(?:%s)[^"'\s]*)["']""" % "|".join(map(re.escape, CDN_HOSTS)), page)]
    return sorted(set(found))
