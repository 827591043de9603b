"""Trained models cached by name and config, in one checkpoint format (config beside the state dict).

Taught in 02_neural_network. `trained(name, cfg, ...)` loads a model trained earlier with the same
recipe or trains it now and saves it, so a lesson runs again (or a later lesson reuses its model) in
seconds. COURSE_CACHE moves the folder; COURSE_RETRAIN=1 always trains again.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from typing import Callable

import torch
from torch import nn


def cache_dir() -> str:
    """Return the folder for trained models a later lesson reuses (COURSE_CACHE, or ~/.cache/genimg-course)."""
    path = os.environ.get("COURSE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "genimg-course")
    os.makedirs(path, exist_ok=True)
    return path


def save_checkpoint(path: str, model: nn.Module, cfg, history: dict | None = None) -> str:
    """Save the model's weights with its config (a dataclass) and optional history; return the path."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"cfg must be a config dataclass, got {type(cfg).__name__}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"config": dataclasses.asdict(cfg), "config_class": type(cfg).__name__,
                "state_dict": state, "history": history or {}}, path)
    return path


def load_checkpoint(path: str, model_class: type, config_class: type, device: torch.device | str = "cpu"):
    """Return (model, cfg, history) rebuilt from a checkpoint; loads with weights_only=True (no code runs)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}: train the model first (its lesson saves it)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("config_class") != config_class.__name__:
        raise ValueError(f"{path} holds a {ckpt.get('config_class')}, not a {config_class.__name__}")
    fields = {f.name for f in dataclasses.fields(config_class)}
    cfg = config_class(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in ckpt["config"].items() if k in fields})
    model = model_class(cfg)
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device), cfg, ckpt.get("history", {})


PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=4)
def code_fingerprint(root: str = PACKAGE_DIR) -> str:
    """Return a 12-character hash of the package's code: every .py file under `root` (names and contents) but the
    maintainer tools. Part of every cached model's key, so weights trained before a recipe changed are never loaded."""
    h = hashlib.sha256()
    for folder, dirs, files in os.walk(root):  # top-down, in sorted order: dirs is pruned and sorted in place
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "tools"))
        for file in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, file)
            h.update(os.path.relpath(path, root).replace(os.sep, "/").encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read().replace(b"\r\n", b"\n") + b"\0")  # the same on Windows checkouts
    return h.hexdigest()[:12]


def trained_path(name: str, cfg, data: str = "") -> str:
    """Return the cache file for a model trained under `name` with config `cfg` on `data` (the key: those three, the
    package's code (`code_fingerprint`) and the active data set when a lesson switched from the glyph digits).

    A recipe written in a notebook is not in the key: after changing one, set COURSE_RETRAIN=1.
    """
    from course.data import active_dataset

    key = {"cfg": dataclasses.asdict(cfg), "class": type(cfg).__name__, "data": data,
           "code": code_fingerprint()}  # the code includes course/__init__.py, so a new version is a new key
    if active_dataset() != "glyphs":  # a lesson switched to real data (course.data.load_digits): never mix them up
        key["dataset"] = active_dataset()
    key = json.dumps(key, sort_keys=True, default=str)
    return os.path.join(cache_dir(), f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt")


def load_if_trained(model: nn.Module, cfg, name: str, data: str = "") -> dict | None:
    """Load weights trained earlier with the same `name`, config and data into `model`; return their history, or None.

    A file that cannot be read, or whose weights no longer fit the model (its code changed), is
    reported in one line and ignored: the caller trains again, and never loads wrong weights.
    """
    path = trained_path(name, cfg, data)
    if os.environ.get("COURSE_RETRAIN") == "1" or not os.path.exists(path):
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["state_dict"])
    except Exception as err:  # corrupt file, or the model's code changed since it was saved
        print(f"Cached {name} at {path} is stale or unreadable ({type(err).__name__}); training it again.")
        return None
    print(f"Loaded {name} trained earlier ({path}); delete that file or set COURSE_RETRAIN=1 to train again.")
    return ckpt.get("history", {})


def save_trained(model: nn.Module, cfg, name: str, history: dict | None = None, data: str = "") -> str:
    """Save a trained model under `name`, its config and data key for load_if_trained; return the path."""
    return save_checkpoint(trained_path(name, cfg, data), model, cfg, history)


def trained(name: str, cfg, build: Callable[[], nn.Module], train: Callable[[], tuple[nn.Module, dict]],
            device: torch.device | str = "cpu", data: str = "") -> tuple[nn.Module, dict]:
    """Return (model in eval mode on `device`, history): loaded if trained before under `name` with config `cfg`
    on `data`, else trained now by `train()` and cached.

    `build()` makes an untrained model to load weights into; `train()` returns (model, history).
    `data` names anything about the training data that changes the weights (e.g. "mnist", "n=2000").
    """
    model = build().to(device)
    history = load_if_trained(model, cfg, name, data)
    if history is None:
        model, history = train()
        save_trained(model, cfg, name, history, data)
    return model.to(device).eval(), history
