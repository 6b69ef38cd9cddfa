"""dev.py: where torch comes from, when pip runs again, and when the health check times training."""
import http.server
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
dev = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dev)


class FakePip:
    """Records each pip call; fails the calls that use one of ``failing`` indexes."""

    def __init__(self, failing=()):
        self.calls, self.failing = [], set(failing)

    def __call__(self, args):
        self.calls.append(list(args))
        return 1 if self.index(args) in self.failing else 0

    @staticmethod
    def index(args):
        return args[args.index("--index-url") + 1] if "--index-url" in args else None


def _probe(answer):
    probed = []

    def probe(url):
        probed.append(url)
        return answer
    return probe, probed


def test_linux_tries_the_cpu_index_first_and_says_so(capsys):
    pip, (probe, probed) = FakePip(), _probe(None)
    assert dev.install_torch("linux", pip, probe) == dev.CPU_INDEX
    assert probed and probed[0].startswith(dev.CPU_INDEX)
    assert [FakePip.index(c) for c in pip.calls] == [dev.CPU_INDEX]
    assert f"torch=={dev.TORCH_VERSION}" in pip.calls[0]
    assert "--no-deps" in pip.calls[0], "only torch itself comes from PyTorch's index"
    assert dev.CPU_INDEX in capsys.readouterr().out


def test_linux_falls_back_to_the_default_index_when_the_cpu_index_cannot_be_reached(capsys):
    pip, (probe, _) = FakePip(), _probe("URLError: Name or service not known")
    assert dev.install_torch("linux", pip, probe) == "pip's default index"
    assert [FakePip.index(c) for c in pip.calls] == [None], "pip never waits on the unreachable index"
    out = capsys.readouterr().out
    assert "cannot be reached" in out and "Name or service not known" in out and "default index" in out


def test_linux_falls_back_when_pip_fails_with_the_cpu_index():
    pip, (probe, _) = FakePip(failing=[dev.CPU_INDEX]), _probe(None)
    assert dev.install_torch("linux", pip, probe) == "pip's default index"
    assert [FakePip.index(c) for c in pip.calls] == [dev.CPU_INDEX, None]


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_macos_and_windows_never_use_the_cpu_index(platform):
    pip, (probe, probed) = FakePip(), _probe(None)
    assert dev.install_torch(platform, pip, probe) == "pip's default index"
    assert probed == [] and [FakePip.index(c) for c in pip.calls] == [None]


def test_a_torch_that_cannot_be_installed_anywhere_stops_setup():
    pip, (probe, _) = FakePip(failing=[dev.CPU_INDEX, None]), _probe(None)
    with pytest.raises(SystemExit, match="torch"):
        dev.install_torch("linux", pip, probe)


def test_dev_installs_the_torch_version_pyproject_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert f"torch=={dev.TORCH_VERSION}" in deps


@pytest.fixture
def no_proxy(monkeypatch):
    """The probe follows the proxy variables, as pip does; a local test server must be reached directly."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_probe_reports_an_unreachable_index_at_once(no_proxy):
    t0 = time.perf_counter()
    why = dev.reachable(f"http://127.0.0.1:{_free_port()}/whl/cpu/torch/", timeout=2)
    assert why is not None and "refused" in why.lower()
    assert time.perf_counter() - t0 < 2, "a refused connection is not retried"


def test_the_probe_accepts_an_index_that_answers(no_proxy):
    class Index(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert dev.reachable(f"http://127.0.0.1:{server.server_port}/torch/", timeout=5) is None
    finally:
        server.shutdown()
        server.server_close()


def test_pip_reruns_only_when_pyproject_changed_or_an_extra_is_missing():
    base, dev_extra = {"pyproject_sha256": "a", "extra": ""}, {"pyproject_sha256": "a", "extra": "[dev]"}
    assert dev.already_installed(base, [base])
    assert dev.already_installed(base, [dev_extra]), "the dev extra installs the base dependencies too"
    assert not dev.already_installed(dev_extra, [base])
    assert not dev.already_installed(base, [{"pyproject_sha256": "b", "extra": ""}])
    assert not dev.already_installed(base, [])


def test_the_health_check_times_training_only_until_it_has_passed_once(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(dev, "SPEED_MEASURED", tmp_path / "speed-measured")
    monkeypatch.setattr(dev, "run", lambda *cmd: calls.append(cmd[1:]) or 0)
    dev.health_check()
    dev.health_check()
    assert calls == [("-m", "peft_lab", "--speed"), ("-m", "peft_lab")]


def test_a_failed_health_check_stops_and_is_timed_again_next_time(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(dev, "SPEED_MEASURED", tmp_path / "speed-measured")
    monkeypatch.setattr(dev, "run", lambda *cmd: calls.append(cmd[1:]) or 1)
    for _ in range(2):
        with pytest.raises(SystemExit, match="health check"):
            dev.health_check()
    assert calls == [("-m", "peft_lab", "--speed")] * 2



def test_the_browser_test_says_what_is_missing_and_how_to_install_it_instead_of_running(monkeypatch, capsys):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)   # playwright importable: only the system is incomplete
    monkeypatch.setattr(dev, "find_chromium", lambda: None)
    monkeypatch.setattr(dev, "cjk_fonts", lambda: None)   # no fontconfig at all
    monkeypatch.setattr(dev.subprocess, "run", fake_run)
    monkeypatch.setattr(dev.sys, "platform", "linux")
    assert dev.browser_test() != 0
    out = capsys.readouterr().out
    assert "Chromium" in out and "apt-get install chromium fonts-noto-cjk" in out
    assert "CJK font" in out and "playwright" not in out.split("Missing:")[1].replace("Playwright's", "")
    assert not any("pytest" in map(str, cmd) for cmd in calls), "pytest never runs without a browser"


def test_the_browser_test_runs_only_its_test_and_requires_the_browser(monkeypatch):
    calls = []
    monkeypatch.setattr(dev, "browser_test_missing", lambda python: [])
    monkeypatch.setattr(dev.subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)) or subprocess.CompletedProcess(cmd, 0))
    assert dev.browser_test(["-x"]) == 0
    (cmd, kwargs), = calls
    assert cmd[-2:] == [dev.BROWSER_TEST, "-x"] and (ROOT / dev.BROWSER_TEST).exists()
    assert kwargs["env"]["PEFT_LAB_REQUIRE_BROWSER"] == "1", "a missing browser then fails instead of skipping"


def test_chromium_is_found_on_path_or_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.delenv("PEFT_LAB_CHROMIUM", raising=False)
    assert dev.find_chromium(lambda name: f"/usr/bin/{name}" if name == "chromium-browser" else None) == \
        "/usr/bin/chromium-browser"
    assert dev.find_chromium(lambda name: None) is None
    browser = tmp_path / "chrome"
    browser.write_text("")
    monkeypatch.setenv("PEFT_LAB_CHROMIUM", str(browser))
    assert dev.find_chromium(lambda name: None) == str(browser)
    monkeypatch.setenv("PEFT_LAB_CHROMIUM", str(tmp_path / "absent"))
    assert dev.find_chromium(lambda name: "/usr/bin/chromium") is None, "a wrong path is not silently replaced"


def test_the_lab_overrides_are_settings_the_installed_jupyterlab_has_and_change_its_defaults():
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    for plugin, settings in dev.LAB_OVERRIDES.items():
        package, name = plugin.split(":")
        properties = json.loads((schemas / package / f"{name}.json").read_text(encoding="utf-8"))["properties"]
        for key, value in settings.items():
            spec = properties[key]
            allowed = [o["const"] for o in spec["oneOf"]] if "oneOf" in spec else [True, False]
            assert value in allowed and value != spec["default"], (plugin, key, allowed, spec["default"])
    news = dev.LAB_OVERRIDES["@jupyterlab/apputils-extension:notification"]["fetchNews"]
    titles = {o["const"]: o["title"] for o in json.loads(
        (schemas / "@jupyterlab" / "apputils-extension" / "notification.json").read_text())["properties"]["fetchNews"]["oneOf"]}
    assert titles[news] == "Never", "the news feed is never fetched, and never asked about"


def test_setup_writes_the_lab_overrides_and_keeps_settings_made_by_hand(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                "@jupyterlab/apputils-extension:notification": {"doNotDisturbMode": True}}))
    assert dev.write_lab_overrides(tmp_path) == path
    assert dev.write_lab_overrides(tmp_path) == path   # idempotent
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert written["@jupyterlab/apputils-extension:notification"] == {"doNotDisturbMode": True, "fetchNews": "false"}


def test_setup_switches_the_questions_off_even_when_nothing_needs_installing(tmp_path, monkeypatch):
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.touch()
    monkeypatch.setattr(dev, "VENV", tmp_path)
    monkeypatch.setattr(dev, "PYTHON", python)
    monkeypatch.setattr(dev, "INSTALLED", tmp_path / "installed.json")
    dev.INSTALLED.write_text(json.dumps([dev._install_stamp("[dev]")]))
    monkeypatch.setattr(dev, "run", lambda *cmd: pytest.fail(f"nothing to install, yet it ran {cmd}"))
    dev.setup("[dev]")
    overrides = json.loads((tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json").read_text())
    assert overrides == dev.LAB_OVERRIDES
