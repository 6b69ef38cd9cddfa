"""dev.py: where torch comes from, when pip runs again, and when the health check times training."""
import http.server
import importlib.util
import socket
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
