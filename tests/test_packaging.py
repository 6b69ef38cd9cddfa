"""Packaging: conda/Binder and pip users get the same environment; CI runs the README's command."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _environment_pip_requirements() -> list[str]:
    lines = (ROOT / "environment.yml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    reqs = []
    for line in lines[start + 1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if not item.startswith("- "):
            break
        item = item[2:].strip()
        if not item.startswith("-"):  # options such as --extra-index-url and -e . are not requirements
            reqs.append(item)
    return reqs


def test_environment_yml_installs_exactly_the_pyproject_dependencies():
    assert sorted(_environment_pip_requirements()) == sorted(_pyproject()["project"]["dependencies"])
    assert "- -e ." in (ROOT / "environment.yml").read_text(encoding="utf-8"), "it must install this package"


def test_torch_is_pinned_exactly_everywhere():
    deps = _pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in deps
    assert not any(re.match(r"torch\b", d) and d != "torch==2.13.0" for d in deps)


def test_dev_extra_has_the_test_tools():
    dev = " ".join(_pyproject()["project"]["optional-dependencies"]["dev"])
    for tool in ("pytest", "nbval", "peft", "scikit-learn", "playwright"):
        assert tool in dev


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = "python3 dev.py test"
    assert command in readme and command in ci
    assert "python3 dev.py lab" in readme
    assert "|| true" not in ci and "set +e" not in ci, "CI must not hide failures"


def test_ci_installs_the_browser_and_may_not_skip_the_browser_test():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "apt-get install" in ci and "chromium" in ci and "fonts-noto-cjk" in ci
    assert "PEFT_LAB_REQUIRE_BROWSER=1" in ci


def test_shipped_checkpoint_is_package_data():
    data = _pyproject()["tool"]["setuptools"]["package-data"]["peft_lab"]
    assert "weights/*.safetensors" in data and "weights/*.json" in data
