import pytest
import torch
from torch import nn

from course.autoencoder import LATENT_CONFIG, Autoencoder
from course.diffusion import NoiseSchedule, SamplerConfig, ScheduleConfig, ddim_sample
from course.editing import inpaint, inpaint_digits, latent_keep, paste_known, renoise, sdedit, sdedit_digits
from course.unet import UNet, UNetConfig


class ConstantX0(nn.Module):
    """A denoiser whose x0-prediction is always `image`: whatever it starts from, DDIM must end exactly there."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.image = image

    def forward(self, x, t, cond=None):
        return self.image.expand_as(x)


def tiny_unet(channels: int = 1, size: int = 8, n_classes: int = 0) -> UNet:
    torch.manual_seed(0)
    return UNet(UNetConfig(in_channels=channels, size=size, widths=(8, 16), n_classes=n_classes))


def test_paste_known_noises_the_kept_part_and_leaves_the_rest():
    g = torch.Generator().manual_seed(0)
    x, known, noise = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
    keep = torch.zeros(1, 1, 4, 4)
    keep[..., :, :2] = 1
    ab = torch.tensor(0.64)
    got = paste_known(x, known, keep, ab, noise)
    assert torch.allclose(got[..., :2], 0.8 * known[..., :2] + 0.6 * noise[..., :2])
    assert torch.equal(got[..., 2:], x[..., 2:])


def test_renoise_jumps_to_the_forward_process_distribution():
    # x_prev ~ q(x_prev | x0 = 1); renoised to the level ab it must follow q(x_t | x0 = 1) = N(sqrt(ab), 1 - ab)
    g = torch.Generator().manual_seed(1)
    ab_prev, ab = torch.tensor(0.9), torch.tensor(0.4)
    x_prev = ab_prev.sqrt() + (1 - ab_prev).sqrt() * torch.randn(200_000, generator=g)
    x_t = renoise(x_prev, ab_prev, ab, torch.randn(200_000, generator=g))
    assert x_t.mean().item() == pytest.approx(ab.sqrt().item(), abs=0.01)
    assert x_t.std().item() == pytest.approx((1 - ab).sqrt().item(), abs=0.01)


def test_inpaint_keeps_the_known_pixels_exactly_and_draws_the_rest():
    s = NoiseSchedule(ScheduleConfig(50))
    model = tiny_unet()
    known = torch.rand(2, 1, 8, 8)
    keep = torch.zeros(8, 8)
    keep[:4] = 1  # keep the top half
    a = inpaint(model, s, known, keep, SamplerConfig(5), generator=torch.Generator().manual_seed(2))
    b = inpaint(model, s, known, keep, SamplerConfig(5), generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)  # a seed gives the same edit
    assert torch.allclose(a[..., :4, :], known[..., :4, :], atol=1e-6)  # the last paste is at alpha_bar = 1
    assert not torch.allclose(a[..., 4:, :], known[..., 4:, :], atol=1e-2)


def test_inpaint_with_nothing_kept_and_no_resampling_is_plain_ddim():
    s = NoiseSchedule(ScheduleConfig(50))
    model = tiny_unet()
    nothing = torch.zeros(8, 8)
    edited = inpaint(model, s, torch.rand(2, 1, 8, 8), nothing, SamplerConfig(6), generator=torch.Generator().manual_seed(3),
                     resample=0)
    sampled = ddim_sample(model, s, (2, 1, 8, 8), SamplerConfig(6), generator=torch.Generator().manual_seed(3))
    assert torch.allclose(edited, sampled, atol=1e-6)


def test_inpaint_refuses_a_mask_of_the_wrong_size_or_range():
    s = NoiseSchedule(ScheduleConfig(50))
    with pytest.raises(ValueError, match="one mask value per pixel"):
        inpaint(tiny_unet(), s, torch.rand(1, 1, 8, 8), torch.ones(7, 7))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        inpaint(tiny_unet(), s, torch.rand(1, 1, 8, 8), torch.full((8, 8), 2.0))


def test_sdedit_strength_zero_returns_the_input_and_any_strength_ends_on_the_model():
    s = NoiseSchedule(ScheduleConfig(100))
    start, target = torch.rand(2, 1, 4, 4), torch.rand(1, 1, 4, 4)
    model = ConstantX0(target)
    x0_sampler = SamplerConfig(10, prediction="x0")
    assert torch.equal(sdedit(model, s, start, 0.0, x0_sampler), start)
    for strength in (0.1, 0.5, 1.0):
        out = sdedit(model, s, start, strength, x0_sampler, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(out, target.expand_as(out), atol=1e-5), strength  # the loop runs down to the clean image
    with pytest.raises(ValueError, match="strength must be between 0"):
        sdedit(model, s, start, 1.5, x0_sampler)


def test_latent_keep_keeps_a_latent_position_only_when_its_whole_patch_is_kept():
    keep = torch.ones(1, 1, 28, 28)
    keep[..., 14:, :] = 0  # erase from the middle of latent row 3 (pixels 12-15) down
    got = latent_keep(keep, 7)
    assert got.shape == (1, 1, 7, 7)
    assert got[0, 0, :3].eq(1).all() and got[0, 0, 3:].eq(0).all()


def test_digit_wrappers_keep_pixels_and_follow_the_seed():
    s = NoiseSchedule(ScheduleConfig(50))
    model = tiny_unet(channels=4, size=7, n_classes=10)
    torch.manual_seed(0)
    autoencoder = Autoencoder(LATENT_CONFIG).eval()
    images = torch.rand(3, 1, 28, 28)
    keep = torch.ones(1, 1, 28, 28)
    keep[..., 16:, :] = 0
    sampler = SamplerConfig(4, guidance=2.0, prediction="v")
    out = inpaint_digits(model, s, autoencoder, images, keep, torch.tensor([1, 2, 3]), sampler, seed=1)
    assert out.shape == (3, 1, 28, 28) and torch.equal(out[..., :16, :], images[..., :16, :])
    assert torch.equal(out, inpaint_digits(model, s, autoencoder, images, keep, torch.tensor([1, 2, 3]), sampler, seed=1))
    seen = []
    model.register_forward_hook(lambda m, args, out: seen.append(args[2].tolist()))
    inpaint_digits(model, s, autoencoder, images, keep, None, sampler, seed=1, resample=0)
    assert seen and all(cond == [10, 10, 10] for cond in seen)  # no labels: only the "no class" input, no guidance pass
    edited = sdedit_digits(model, s, autoencoder, images, 0.5, torch.tensor([4, 5, 6]), sampler, seed=1)
    assert edited.shape == (3, 1, 28, 28) and 0 <= edited.min() and edited.max() <= 1
    with pytest.raises(TypeError, match="dtype"):
        sdedit_digits(model, s, autoencoder, (images * 255).byte(), 0.5)
