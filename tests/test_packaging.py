"""Packaging: conda/Binder and pip users get the same environment; CI runs the README's command."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _environment() -> dict:
    """environment.yml, parsed as YAML (PyYAML comes with jupyterlab: jupyter-server -> jupyter-events)."""
    import yaml
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _environment_pip_section() -> list[str]:
    env = _environment()
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1 and all(isinstance(item, str) for item in pip[0]), "one pip: list of strings"
    return pip[0]


def _environment_pip_requirements() -> list[str]:
    """The pip: section's requirements; options such as --extra-index-url and -e . are not requirements."""
    return [item for item in _environment_pip_section() if not item.startswith("-")]


def test_environment_yml_parses_and_installs_exactly_the_pyproject_dependencies():
    """conda/Binder users get pip's environment: python and pip from conda (python inside
    requires-python), then exactly project.dependencies (none twice, none more), this package
    itself, and extras only by name through ``-e .[extra]`` (an extra's packages are never copied in)."""
    from packaging.specifiers import SpecifierSet
    from packaging.requirements import Requirement
    env, project = _environment(), _pyproject()["project"]
    assert env["name"] == "peft-lab" and env["channels"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert sorted(re.split(r"[=<>]", d)[0] for d in conda) == ["pip", "python"], conda
    python = next(d for d in conda if d.startswith("python"))
    assert SpecifierSet(project["requires-python"]).contains(python.split("=")[-1] + ".0"), python
    reqs = _environment_pip_requirements()
    assert len(reqs) == len(set(reqs)) and sorted(reqs) == sorted(project["dependencies"])
    options = [item for item in _environment_pip_section() if item.startswith("-")]
    own = [o for o in options if re.fullmatch(r"-e \.(\[[\w,-]+\])?", o)]
    assert len(own) == 1, f"it must install this package once (-e .), found {options}"
    extras = re.findall(r"[\w-]+", own[0][4:])
    assert set(extras) <= set(project.get("optional-dependencies", {})), extras
    in_extras = {Requirement(r).name for extra in project.get("optional-dependencies", {}).values() for r in extra}
    assert not in_extras & {Requirement(r).name for r in reqs}, "an extra's packages come through -e .[extra]"
    assert set(options) - set(own) == {"--extra-index-url https://download.pytorch.org/whl/cpu"}, options


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
    # by path: another `chromium` on PATH (a Playwright download) is not the browser the suite is checked with
    assert 'PEFT_LAB_CHROMIUM="$DEBIAN_CHROMIUM"' in ci and "DEBIAN_CHROMIUM=/usr/bin/chromium" in ci


def test_shipped_checkpoint_is_package_data():
    data = _pyproject()["tool"]["setuptools"]["package-data"]["peft_lab"]
    assert "weights/*.safetensors" in data and "weights/*.json" in data
