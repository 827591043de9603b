"""Estimate each lesson's minutes on a Colab T4 at the GPU settings, from this CPU's measured throughput.

Maintainer tool (lessons never import it): `.venv/bin/python -m course.tools.t4_estimate`, under a minute.
For every training run of lessons 06-10 it counts one optimiser step's FLOPs at the CPU and at the GPU
settings (COURSE_SCALE, so the configs are the lessons' own), and times the step here at the CPU settings,
on the threads the lesson uses. Then, per lesson:

    T4 minutes = CPU minutes x (GPU-settings training FLOP / CPU-settings training FLOP)
                 x (this CPU's measured FLOP/s on those steps) / (T4_PEAK_FLOPS x ASSUMED_UTILISATION, course.flops' 30 %),

never less than T4_STEP_SECONDS per optimiser step. It assumes the rest of a lesson (sampling, judging)
grows like its training. An estimate, printed as one: no T4 ran it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Callable

import torch

from course.flops import ASSUMED_UTILISATION

# NVIDIA T4 datasheet (https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf):
# 8.1 TFLOPS single precision (65 TFLOPS mixed precision on tensor cores, which the course's fp32 training does not use), 16 GB.
T4_PEAK_FLOPS = 8.1e12
T4_STEP_SECONDS = 0.005  # floor per optimiser step: a small model's step is a few hundred kernel launches of ~10 us
# Minutes of each lesson at the CPU settings on a 2-core CPU: README's lesson table (make bench).
CPU_MINUTES = {"06": 2.0, "07": 3.0, "08": 5.5, "09": 4.5, "10": 3.0}


@dataclass
class Run:
    """One training run of a lesson: its config (evaluated at either scale), a trainer, how often the lesson runs it."""

    lesson: str
    name: str
    config: Callable[[], object]
    train: Callable[[object], object]  # trains the config as given (its step count already cut)
    repeats: int = 1
    threads: int = 1


def n_steps(cfg) -> int:
    """Return a config's number of optimiser steps (DiffusionConfig calls it train_steps)."""
    return cfg.train_steps if hasattr(cfg, "train_steps") else cfg.n_steps


def with_steps(cfg, n: int):
    """Return `cfg` cut to n optimiser steps; its snapshots (lesson 08 keeps one after a third) move to the same share of the
    shorter run, at step 1 at the earliest."""
    if not getattr(cfg, "snapshot_steps", ()):
        return replace(cfg, **{"train_steps" if hasattr(cfg, "train_steps") else "n_steps": n})
    return replace(cfg, train_steps=n, snapshot_steps=tuple(max(1, s * n // cfg.train_steps) for s in cfg.snapshot_steps))


def at_scale(scale: str, fn: Callable[[], object]):
    """Return fn() evaluated with COURSE_SCALE=scale."""
    before = os.environ.get("COURSE_SCALE")
    os.environ["COURSE_SCALE"] = scale
    try:
        return fn()
    finally:
        if before is None:
            del os.environ["COURSE_SCALE"]
        else:
            os.environ["COURSE_SCALE"] = before


def runs() -> list[Run]:
    """Return every training run of lessons 06-10 with random stand-in data of the right shapes."""
    from course.cnn import CNN, CNNConfig
    from course.data.sequences import moving_sequences
    from course.diffusion import train_diffusion
    from course.frames import train_frame_generator
    from course.gan import BEST_CONFIG, best_config, train_gan
    from course.latent import lesson08_config
    from course.lesson_configs import (lesson06_config, lesson07_dcgan_config, lesson07_latent_config, lesson07_sr_config,
                                       lesson07_srgan_config, lesson08_pixel_config, lesson09_config, lesson09_short_config)
    from course.superres import train_superres
    from course.text import Tokenizer, build_vocab, words_of
    from course.data.shapes import shapes_dataset
    from course.text2img import TextToImage, train_text_to_image
    from course.train import train_classifier
    from course.device import by_device

    pixels, latents, labels = torch.rand(512, 1, 28, 28), torch.randn(512, 4, 7, 7), torch.arange(512) % 10
    data = shapes_dataset(n_train=256, n_test=8, seed=0)
    tokenizer = Tokenizer(build_vocab(data.captions_train), 1 + max(len(words_of(c)) for c in data.captions_train))
    images, ids = data.x_train * 2 - 1, tokenizer(data.captions_train)

    def frames(cfg):
        x, _ = moving_sequences(2 * cfg.batch_size, cfg.n_context + cfg.n_future, cfg.size, cfg.n_objects, "glyphs", cfg.patch)
        return train_frame_generator(cfg, x, progress=False)

    def gan(cfg):
        return train_gan(cfg, pixels * 2 - 1 if cfg.space == "pixels" else latents, labels, progress=False)

    def text_to_image(cfg):  # lesson 09's loop
        return train_text_to_image(TextToImage(cfg), images, ids, tokenizer("")[0], progress=False)

    def detector(cfg):  # one epoch of n_steps batches: lesson 10's real-or-generated CNN
        cnn = CNNConfig(n_classes=2, n_epochs=1)
        n = cfg.n_steps * cnn.batch_size
        return train_classifier(CNN(cnn), cnn, torch.rand(n, 1, 28, 28), torch.arange(n) % 2, progress=False)

    @dataclass
    class Steps:  # lesson 10's detector, counted in optimiser steps (2 epochs over 2 * n_det images of batch 128)
        n_steps: int

    lesson09 = lambda: lesson09_config(tokenizer.vocab, tokenizer.max_len)
    # lesson 10's own settings (its notebook's by_device calls): lesson 07's recipe trained longer, a bigger detector set
    bias = lambda: replace(BEST_CONFIG, n_classes=0, batch_size=128, ema_decay=0.0, n_steps=by_device(cpu=1000, gpu=3000))
    return [
        Run("06", "frame generator (full run, no-curriculum run)", lesson06_config, frames, repeats=2),
        Run("06", "frame generator, drawn frames (100 steps)", lambda: replace(lesson06_config(), output="frame", n_steps=100), frames, 2),
        Run("06", "frame generator, change (100 steps)", lambda: replace(lesson06_config(), n_steps=100), frames),
        Run("07", "DCGAN", lesson07_dcgan_config, gan),
        Run("07", "latent GANs (plain and three ladder rungs)", lesson07_latent_config, gan, repeats=4),
        Run("07", "best GAN", best_config, gan),
        Run("07", "super-resolution", lesson07_sr_config, lambda cfg: train_superres(cfg, pixels, progress=False)),
        Run("07", "adversarial super-resolution", lesson07_srgan_config, lambda cfg: train_superres(cfg, pixels, progress=False)),
        Run("08", "latent diffusion", lesson08_config, lambda cfg: train_diffusion(cfg, latents, labels, progress=False), threads=2),
        Run("08", "pixel diffusion", lesson08_pixel_config,
            lambda cfg: train_diffusion(cfg, pixels * 2 - 1, labels, progress=False), threads=2),
        Run("09", "text-to-image", lesson09, text_to_image),
        Run("09", "short runs (x0, v)", lambda: lesson09_short_config(lesson09(), "v"), text_to_image, repeats=2),
        Run("10", "GANs on 90/10 digits (plain, balanced, conditional)", bias, gan, repeats=3),
        Run("10", "GANs with and without duplicates",
            lambda: replace(bias(), n_steps=by_device(cpu=1500, gpu=4000)), gan, repeats=2),
        Run("10", "scaling run", lambda: replace(best_config(), batch_size=128, n_steps=by_device(cpu=2000, gpu=8000)), gan),
        Run("10", "detector", lambda: Steps(by_device(cpu=2 * 2 * 3000 // 128, gpu=2 * 2 * 10000 // 128)), detector),
    ]


def measure(run: Run, k: int = 10) -> dict[str, float]:
    """Return the run's FLOP per step at both scales, its steps at both scales, and this CPU's seconds per step."""
    from course.device import cpu_threads
    from course.flops import step_flops

    out = {}
    for scale in ("cpu", "gpu"):
        cfg = at_scale(scale, run.config)
        out[f"{scale}_steps"] = n_steps(cfg) * run.repeats
        out[f"{scale}_flop"] = step_flops(lambda: run.train(with_steps(cfg, 1)))
    cfg = at_scale("cpu", run.config)
    with cpu_threads(run.threads):
        run.train(with_steps(cfg, 1))  # warm-up
        times = []
        for n in (1, 1 + k):
            start = time.perf_counter()
            run.train(with_steps(cfg, n))
            times.append(time.perf_counter() - start)
    out["cpu_seconds_per_step"] = max(times[1] - times[0], 1e-6) / k
    return out


def estimate(measured: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Return per lesson: CPU FLOP/s, growth of training FLOP from CPU to GPU settings, and the T4 minutes."""
    rows = {}
    for lesson, ms in measured.items():
        cpu_flop = sum(m["cpu_flop"] * m["cpu_steps"] for m in ms)
        gpu_flop = sum(m["gpu_flop"] * m["gpu_steps"] for m in ms)
        cpu_seconds = sum(m["cpu_seconds_per_step"] * m["cpu_steps"] for m in ms)
        rate = cpu_flop / cpu_seconds  # this CPU's FLOP/s on the lesson's training steps
        growth = gpu_flop / cpu_flop
        minutes = CPU_MINUTES[lesson] * growth * rate / (T4_PEAK_FLOPS * ASSUMED_UTILISATION)
        floor = sum(m["gpu_steps"] for m in ms) * T4_STEP_SECONDS / 60
        rows[lesson] = {"cpu_gflops": rate / 1e9, "growth": growth, "cpu_minutes_at_gpu_settings": CPU_MINUTES[lesson] * growth,
                        "t4_minutes": max(minutes, floor), "floor_minutes": floor}
    return rows


def main() -> None:
    measured: dict[str, list[dict[str, float]]] = {}
    for run in runs():
        m = measure(run)
        measured.setdefault(run.lesson, []).append(m)
        print(f"{run.lesson} {run.name:<52} {m['cpu_flop'] / 1e9:7.2f} -> {m['gpu_flop'] / 1e9:7.2f} GFLOP/step, "
              f"{m['cpu_steps']:>6} -> {m['gpu_steps']:>6} steps, {1e3 * m['cpu_seconds_per_step']:6.1f} ms/step here")
    print("\nlesson  CPU GFLOP/s  FLOP growth  CPU minutes at GPU settings  T4 minutes (estimate)  step floor")
    for lesson, r in estimate(measured).items():
        print(f"{lesson:>6}  {r['cpu_gflops']:11.1f}  {r['growth']:10.1f}x  {r['cpu_minutes_at_gpu_settings']:27.0f}  "
              f"{r['t4_minutes']:21.1f}  {r['floor_minutes']:10.1f}")


if __name__ == "__main__":
    main()
