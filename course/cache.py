"""Trained models cached by name and config, in one checkpoint format (config beside the state dict).

Taught in 02_neural_network. `trained(name, cfg, ...)` loads a model trained earlier with the same
recipe or trains it now and saves it, so a lesson runs again (or a later lesson reuses its model) in
seconds. COURSE_CACHE moves the folder; COURSE_RETRAIN=1 always trains again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import torch
from torch import nn

from course import __version__


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


def trained_path(name: str, cfg) -> str:
    """Return the cache file for a model trained under `name` with config `cfg` (the config is part of the key)."""
    key = json.dumps({"cfg": dataclasses.asdict(cfg), "class": type(cfg).__name__, "version": __version__}, sort_keys=True, default=str)
    return os.path.join(cache_dir(), f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt")


def load_if_trained(model: nn.Module, cfg, name: str) -> dict | None:
    """Load weights trained earlier with the same `name` and config into `model`; return their history, or None.

    Lets a lesson run a second time (or a later lesson reuse a model) in seconds. Set
    COURSE_RETRAIN=1 to always train again.
    """
    path = trained_path(name, cfg)
    if os.environ.get("COURSE_RETRAIN") == "1" or not os.path.exists(path):
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError:  # the model's code changed since: train again
        return None
    print(f"Loaded {name} trained earlier ({path}); delete that file or set COURSE_RETRAIN=1 to train again.")
    return ckpt.get("history", {})


def save_trained(model: nn.Module, cfg, name: str, history: dict | None = None) -> str:
    """Save a trained model under `name` and its config for load_if_trained; return the path."""
    return save_checkpoint(trained_path(name, cfg), model, cfg, history)
