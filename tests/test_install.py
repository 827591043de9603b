import json
import subprocess
import sys
import time
import urllib.error

import pytest

from course.tools import install
from course.tools.install import CPU_INDEX, torch_index_args


@pytest.mark.parametrize("system, machine, gpu, reachable, expected", [
    ("Linux", "x86_64", False, True, ["--index-url", CPU_INDEX]),   # a laptop without a GPU: ~190 MB, not GBs of CUDA
    ("Linux", "aarch64", False, True, ["--index-url", CPU_INDEX]),
    ("Linux", "x86_64", True, True, []),                             # an NVIDIA GPU wants PyPI's CUDA build
    ("Linux", "x86_64", False, False, []),                           # index unreachable: default index / local wheels
    ("Darwin", "arm64", False, True, []),                            # PyPI's macOS wheels are CPU (and MPS) builds
    ("Darwin", "x86_64", False, True, []),
    ("Windows", "AMD64", False, True, []),                           # PyPI's Windows wheels are CPU builds
    ("Windows", "AMD64", True, True, []),
    ("Linux", "ppc64le", False, True, []),                           # no CPU wheel there: let pip decide
])
def test_torch_index_args(system, machine, gpu, reachable, expected):
    assert torch_index_args(system, machine, gpu, reachable) == expected


def test_nvidia_gpu_probe():
    no_file = lambda path: False  # noqa: E731
    assert install.nvidia_gpu(which=lambda name: None, exists=no_file) is False
    assert install.nvidia_gpu(which=lambda name: None, exists=lambda path: path == "/proc/driver/nvidia/version")

    def smi(stdout, code=0):
        return lambda *a, **k: subprocess.CompletedProcess(a, code, stdout=stdout, stderr="")

    found = lambda name: "/usr/bin/nvidia-smi"  # noqa: E731
    assert install.nvidia_gpu(which=found, exists=no_file, run=smi("GPU 0: NVIDIA T4 (UUID: x)\n"))
    assert not install.nvidia_gpu(which=found, exists=no_file, run=smi("", code=9))  # driver not loaded

    def broken(*a, **k):
        raise OSError("exec format error")
    assert not install.nvidia_gpu(which=found, exists=no_file, run=broken)


class _Response:
    status = 200

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_index_probe_answers_and_falls_back_within_seconds():
    assert install.index_reachable(opener=lambda url, timeout: _Response())

    def refused(url, timeout):
        raise urllib.error.URLError("Could not resolve host")
    assert not install.index_reachable(opener=refused)

    def hangs(url, timeout):  # a network that swallows packets, DNS included: the probe must not wait for it
        time.sleep(30)
    started = time.time()
    assert not install.index_reachable(seconds=0.5, opener=hangs)
    assert time.time() - started < 2


def test_probe_on_this_machine_returns_pip_arguments_quickly():
    started = time.time()
    out = subprocess.run([sys.executable, "-m", "course.tools.install", "torch-index-args"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("", f"--index-url {CPU_INDEX}")
    assert time.time() - started < install.PROBE_SECONDS + 15


def test_lab_settings_merge_into_overrides(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                "@jupyterlab/apputils-extension:notification": {"doNotDisturbMode": True}}))
    assert install.write_lab_settings(str(tmp_path)) == str(path)
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert settings["@jupyterlab/apputils-extension:notification"] == {
        "doNotDisturbMode": True, "checkForUpdates": False, "fetchNews": "false"}
    assert settings["@jupyterlab/notebook-extension:tracker"]["autoStartDefaultKernel"] is True
