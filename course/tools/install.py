"""Installation helpers for `make setup` (lessons never import this).

`python -m course.tools.install torch-index-args` prints the pip arguments that choose where torch
comes from: PyTorch's CPU-only index on Linux without an NVIDIA GPU (a ~200 MB wheel instead of the
multi-gigabyte CUDA build PyPI serves on Linux), PyPI everywhere else (macOS and Windows wheels on PyPI
are CPU builds already; a machine with an NVIDIA GPU wants the CUDA build). When the CPU index does not
answer within a few seconds it falls back to PyPI (and to any local wheel folder pip is configured with).

`python -m course.tools.install lab-settings` writes JupyterLab's overrides.json into this environment
(no news pop-up, no update checks, no kernel dialog, no extension-manager network calls).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import urllib.request

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_SECONDS = 4.0

LAB_OVERRIDES = {
    # "Would you like to receive official Jupyter news?" pop-up and the update check: off.
    "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"},
    # A notebook opens with its own kernel, without the "Select Kernel" dialog.
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    # The extension manager would query PyPI on start.
    "@jupyterlab/extensionmanager-extension:plugin": {"enabled": False},
}


def torch_index_args(system: str, machine: str, has_nvidia_gpu: bool, reachable: bool) -> list[str]:
    """Return the pip arguments that pick the torch build for this machine.

    system and machine are platform.system() and platform.machine(); has_nvidia_gpu and reachable
    are what `nvidia_gpu()` and `index_reachable()` found. Only Linux without an NVIDIA GPU needs
    PyTorch's CPU index: PyPI's Linux wheels bring CUDA, its macOS and Windows wheels do not.
    """
    if system != "Linux" or has_nvidia_gpu or not reachable:
        return []
    if machine.lower() not in ("x86_64", "amd64", "aarch64", "arm64"):
        return []
    return ["--index-url", CPU_INDEX]


def nvidia_gpu(which=shutil.which, exists=os.path.exists, run=subprocess.run) -> bool:
    """Return True when this machine has an NVIDIA GPU with a driver (nvidia-smi lists one, or the driver is loaded)."""
    if exists("/proc/driver/nvidia/version"):
        return True
    smi = which("nvidia-smi")
    if not smi:
        return False
    try:
        out = run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def index_reachable(url: str = CPU_INDEX, seconds: float = PROBE_SECONDS, opener=urllib.request.urlopen) -> bool:
    """Return True when `url` answers within `seconds` (DNS included: the probe runs in a thread it stops waiting for)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with opener(url.rstrip("/") + "/torch/", timeout=seconds) as response:
                result.append(200 <= response.status < 400)
        except Exception:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(result and result[0])


def probe_torch_index_args() -> list[str]:
    """Probe this machine and return torch_index_args for it."""
    system, machine = platform.system(), platform.machine()
    gpu = nvidia_gpu() if system == "Linux" else False
    if torch_index_args(system, machine, gpu, reachable=True) == []:
        return []
    if index_reachable():
        return torch_index_args(system, machine, gpu, reachable=True)
    print(f"course.tools.install: {CPU_INDEX} is not reachable (waited at most {PROBE_SECONDS:.0f} s); "
          "torch comes from the default index or a local wheel folder", file=sys.stderr)
    return []


def write_lab_settings(prefix: str = sys.prefix) -> str:
    """Merge LAB_OVERRIDES into PREFIX/share/jupyter/lab/settings/overrides.json; return its path."""
    path = os.path.join(prefix, "share", "jupyter", "lab", "settings", "overrides.json")
    settings = {}
    if os.path.exists(path):
        with open(path) as f:
            settings = json.load(f)
    for plugin, values in LAB_OVERRIDES.items():
        settings.setdefault(plugin, {}).update(values)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(settings, f, indent=2)
        f.write("\n")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["torch-index-args"]:
        print(" ".join(probe_torch_index_args()))
    elif argv == ["lab-settings"]:
        write_lab_settings()
    else:
        print("usage: python -m course.tools.install torch-index-args | lab-settings", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
