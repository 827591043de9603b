"""The GPU path, run on a CPU: every lesson's GPU-sized models for two optimiser steps each.

COURSE_SCALE=gpu makes course.device.by_device return the GPU settings on any machine, so the configs
come from the functions the notebooks call (course.lesson_configs, course.gan.best_config,
course.latent.lesson08_config), never from numbers copied here; a test only cuts the number of steps,
with dataclasses.replace. Each checks shapes, the channels-last layout where the code uses it, the
lesson's sampler (GAN, frame rollout, DDIM, text-to-image) and a save-and-load through the model cache
in a temporary COURSE_CACHE. Data are random or small, the shapes are the GPU ones. About 15 s in all on
a 2-core CPU (measured; 20 s on a busy one): the one place where a unit test takes longer than a second.

What a CPU cannot show: a tensor left on the wrong device, or an out-of-memory error on a 16 GB GPU.
"""
import glob
import os
from dataclasses import replace

import nbformat
import pytest
import torch

from course.autoencoder import LATENT_CONFIG, Autoencoder
from course.cache import trained
from course.data.image_dataset import from_signed
from course.data.sequences import moving_sequences
from course.data.shapes import shapes_dataset
from course.diffusion import NoiseSchedule, train_diffusion
from course.frames import FrameGenerator, rollout, train_frame_generator
from course.gan import BEST_NAME, BEST_TRUNCATION, Generator, best_config, generate, train_gan
from course.latent import DIGIT_SAMPLER, decode_latents, lesson08_config, sample_digits
from course.lesson_configs import (lesson06_config, lesson07_dcgan_config, lesson07_latent_config, lesson07_sr_config,
                                   lesson07_srgan_config, lesson08_pixel_config, lesson09_config, lesson09_short_config)
from course.superres import downsample, train_superres, upscale
from course.text import Tokenizer, build_vocab, words_of
from course.text2img import TextToImage, generate as text_to_image, train_text_to_image
from course.tools.t4_estimate import with_steps
from course.unet import UNet

ROOT = os.path.join(os.path.dirname(__file__), "..")
N_STEPS = 2  # optimiser steps per model: enough to run a forward, a backward and an update twice


@pytest.fixture
def gpu_scale(monkeypatch, tmp_path, one_thread):
    """The GPU settings on this CPU, and an empty model cache that disappears after the test."""
    monkeypatch.setenv("COURSE_SCALE", "gpu")
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.delenv("COURSE_RETRAIN", raising=False)


def few_steps(cfg):
    """Return `cfg` with N_STEPS optimiser steps, cut as the T4 estimate cuts it (a snapshot, if kept, at the same share of the steps)."""
    return with_steps(cfg, N_STEPS)


def assert_cached(name: str, cfg, model: torch.nn.Module, build) -> None:
    """Assert that `trained` saved `model` under `name` and `cfg` and now loads the same weights into build()."""
    def must_not_train():
        raise AssertionError(f"{name} was not found in the cache it was just saved to")

    loaded, _ = trained(name, cfg, build, must_not_train)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), f"{name}: {key} changed in the cache round trip"


def test_gpu_settings_are_bigger(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "cpu")
    cpu = [lesson06_config(), lesson07_dcgan_config(), lesson08_pixel_config().unet, lesson08_config().unet,
           lesson09_config(("<pad>", "<start>"), 9)]
    monkeypatch.setenv("COURSE_SCALE", "gpu")
    gpu = [lesson06_config(), lesson07_dcgan_config(), lesson08_pixel_config().unet, lesson08_config().unet,
           lesson09_config(("<pad>", "<start>"), 9)]
    assert gpu[0].size > cpu[0].size and gpu[0].hidden > cpu[0].hidden
    assert gpu[1].width > cpu[1].width
    assert all(g.widths > c.widths for g, c in zip(gpu[2:], cpu[2:]))
    assert best_config().n_steps > lesson07_latent_config().n_steps  # steps alone grow in these two
    assert lesson07_srgan_config().n_steps < lesson07_sr_config().n_steps


def test_notebooks_take_their_gpu_settings_from_the_package():
    """A by_device call written in a notebook would be a GPU setting this file never runs."""
    for path in sorted(glob.glob(os.path.join(ROOT, "solutions", "*.ipynb"))):
        if os.path.basename(path).startswith("10_"):
            continue  # lesson 10 grows only step counts and data sizes on a GPU; its models are run below
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert "by_device(" not in code, f"{path}: move the GPU setting into course/lesson_configs.py"


def test_lesson06_frame_generator(gpu_scale):
    cfg = replace(lesson06_config(), n_steps=N_STEPS, teacher_forcing_steps=0, ramp_steps=1)  # step 2 feeds its own frames
    n_frames = cfg.n_context + cfg.n_future
    x, _ = moving_sequences(cfg.batch_size, n_frames, cfg.size, cfg.n_objects, "glyphs", cfg.patch, seed=0)
    model, history = trained("06_frame_generator", cfg, lambda: FrameGenerator(cfg),
                             lambda: train_frame_generator(cfg, x, "cpu", progress=False))
    assert history["step"] == [N_STEPS]
    assert model(x[:2]).shape == (2, n_frames - 1, cfg.channels, cfg.size, cfg.size)
    for most_likely in (False, True):
        frames = rollout(model, x[:2, : cfg.n_context], cfg.n_future, most_likely)
        assert frames.shape == (2, cfg.n_future, cfg.channels, cfg.size, cfg.size)
    drawn = FrameGenerator(replace(cfg, output="frame")).eval()  # section 4's variants draw the frame
    assert drawn(x[:2]).shape == (2, n_frames - 1, cfg.channels, cfg.size, cfg.size)
    assert_cached("06_frame_generator", cfg, model, lambda: FrameGenerator(cfg))


def test_lesson07_gans_and_superres(gpu_scale):
    x = torch.rand(256, 1, 28, 28)  # stand-in digits in [0, 1]: the shapes matter here, not the pictures
    drawn_at = []
    dcgan, _ = train_gan(few_steps(lesson07_dcgan_config()), x * 2 - 1, None, "cpu",
                         on_samples=lambda step, g: drawn_at.append(step), progress=False)
    assert drawn_at == [N_STEPS] and generate(dcgan, n=4).shape == (4, 1, 28, 28)

    autoencoder = Autoencoder(LATENT_CONFIG).eval()  # untrained: only its decoder's shapes matter here
    z, y = torch.randn(512, 4, 7, 7), torch.arange(512) % 10
    plain, _ = train_gan(few_steps(lesson07_latent_config()), z, None, "cpu", progress=False)
    assert generate(plain, n=4, autoencoder=autoencoder).shape == (4, 1, 28, 28)
    cfg = few_steps(best_config())  # the best GAN, class-conditional with EMA, as lesson07_gan trains it
    best, _ = trained(BEST_NAME, cfg, lambda: Generator(cfg), lambda: train_gan(cfg, z, y, "cpu", progress=False))
    samples = generate(best, torch.arange(10), truncation=BEST_TRUNCATION, autoencoder=autoencoder)
    assert samples.shape == (10, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    assert_cached(BEST_NAME, cfg, best, lambda: Generator(cfg))

    sr, _ = train_superres(few_steps(lesson07_sr_config()), x, "cpu", progress=False)
    srgan, history = train_superres(few_steps(lesson07_srgan_config()), x, "cpu", init=sr, progress=False)
    assert "d_loss" in history and upscale(srgan, downsample(x[:4])).shape == (4, 1, 28, 28)


def test_lesson08_pixel_and_latent_diffusion(gpu_scale):
    sampler, labels = replace(DIGIT_SAMPLER, n_steps=2), torch.arange(4)
    x, y = torch.rand(256, 1, 28, 28) * 2 - 1, torch.arange(256) % 10
    cfg = few_steps(lesson08_pixel_config())
    model, _ = trained("08_pixel_diffusion", cfg, lambda: UNet(cfg.unet),
                       lambda: train_diffusion(cfg, x, y, "cpu", progress=False))
    samples = sample_digits(model, NoiseSchedule(cfg.schedule), labels, (1, 28, 28), from_signed, replace(sampler, clip=1.0))
    assert samples.shape == (4, 1, 28, 28)
    assert_cached("08_pixel_diffusion", cfg, model, lambda: UNet(cfg.unet))
    channels_last, _ = train_diffusion(replace(cfg, channels_last=True), x, y, "cpu", progress=False)
    assert channels_last(x[:2], torch.tensor([0, 999]), y[:2]).shape == (2, 1, 28, 28)

    cfg = few_steps(lesson08_config())
    autoencoder = Autoencoder(LATENT_CONFIG).eval()  # untrained: only its decoder's shapes matter here
    model, history = trained("08_latent_diffusion", cfg, lambda: UNet(cfg.unet),
                             lambda: train_diffusion(cfg, torch.randn(512, 4, 7, 7), torch.arange(512) % 10, "cpu",
                                                     progress=False))
    early = UNet(cfg.unet)
    early.load_state_dict(history["snapshots"][cfg.snapshot_steps[0]])  # the snapshot section 8 compares with the pixel model
    samples = sample_digits(model, NoiseSchedule(cfg.schedule), labels, (4, 7, 7),
                            lambda zb: decode_latents(autoencoder, zb), sampler)
    assert samples.shape == (4, 1, 28, 28)
    assert_cached("08_latent_diffusion", cfg, model, lambda: UNet(cfg.unet))


def test_lesson09_text_to_image(gpu_scale):
    data = shapes_dataset(n_train=256, n_test=8, seed=0)
    tokenizer = Tokenizer(build_vocab(data.captions_train), 1 + max(len(words_of(c)) for c in data.captions_train))
    x, ids = data.x_train * 2 - 1, tokenizer(data.captions_train)
    cfg = few_steps(lesson09_config(tokenizer.vocab, tokenizer.max_len))
    short = lesson09_short_config(cfg, "v")
    assert short.widths == cfg.widths and short.prediction == "v"

    def train():  # lesson 09's loop (course.text2img.train_text_to_image), cut to a few steps
        torch.manual_seed(cfg.seed)
        return train_text_to_image(TextToImage(cfg), x, ids, tokenizer("")[0], progress=False)

    model, _ = trained("09_text_to_image", cfg, lambda: TextToImage(cfg), train)
    images = text_to_image(model, tokenizer, data.captions_test[:2], n_steps=2)
    assert images.shape == (2, cfg.channels, cfg.size, cfg.size) and 0 <= images.min() and images.max() <= 1
    assert_cached("09_text_to_image", cfg, model, lambda: TextToImage(cfg))


def test_lesson10_models(gpu_scale):
    """Lesson 10 trains lesson 07's GAN recipe (above) for longer and a CNN detector on more images: its own
    by_device settings change no model size. The detector trains channels-last, as every CNN in train_classifier."""
    from course.cnn import CNN, CNNConfig
    from course.train import train_classifier

    cfg = CNNConfig(n_classes=2, n_epochs=1)
    detector, _ = train_classifier(CNN(cfg), cfg, torch.rand(2 * cfg.batch_size, 1, 28, 28), torch.arange(256) % 2,
                                   progress=False)
    conv = next(m for m in detector.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    unconditional = replace(few_steps(best_config()), n_classes=0, batch_size=128, ema_decay=0.0)
    gan, _ = train_gan(unconditional, torch.randn(256, 4, 7, 7), device="cpu", progress=False)
    assert gan(torch.randn(3, unconditional.n_noise)).shape == (3, 4, 7, 7)


def test_t4_estimate_arithmetic(monkeypatch):
    from course.tools import t4_estimate as t4

    monkeypatch.setattr(t4, "CPU_MINUTES", {"08": 2.0})
    run = {"cpu_flop": 1e9, "cpu_steps": 100, "gpu_flop": 4e9, "gpu_steps": 500, "cpu_seconds_per_step": 0.01}
    row = t4.estimate({"08": [run]})["08"]  # 100 GFLOP/s here, 20x the FLOP on a GPU: 40 CPU minutes
    assert row["cpu_gflops"] == pytest.approx(100) and row["growth"] == pytest.approx(20)
    assert row["t4_minutes"] == pytest.approx(2.0 * 20 * 100e9 / (8.1e12 * 0.3))
    monkeypatch.setenv("COURSE_SCALE", "cpu")
    assert t4.at_scale("gpu", lambda: lesson07_dcgan_config().width) > lesson07_dcgan_config().width
    assert os.environ["COURSE_SCALE"] == "cpu"  # put back as it was
