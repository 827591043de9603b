"""Exercise checks of 05_autoencoder: PSNR, the VAE encoder, the reparameterisation trick, the KL term, the negative ELBO."""
from __future__ import annotations

import math
from typing import Callable

import torch

from course.autoencoder import kl_divergence
from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, own_rng, same_values
from course.metrics import psnr


@exercise_check
def check_psnr(fn: Callable) -> None:
    """Check `fn(x, target)` returns the PSNR in dB for images in [0, 1] (05_autoencoder)."""
    g = torch.Generator().manual_seed(2)
    target = torch.rand(4, 1, 8, 8, generator=g)
    x = (target + 0.1 * torch.randn(4, 1, 8, 8, generator=g)).clamp(0, 1)
    got = fn(x, target)
    expect(got is not None, "your function returned None: did you forget `return`?")
    got = float(got)
    want = psnr(x, target)
    mse = torch.mean((x - target) ** 2).item()
    if math.isclose(got, mse, rel_tol=1e-3):
        raise Hint("this is the mean squared error itself: PSNR = 10 * log10(1 / MSE) in dB")
    if math.isclose(got, 20 * math.log10(1 / mse), rel_tol=1e-3):
        raise Hint("20 * log10 is for a ratio of amplitudes; MSE is already squared, so use 10 * log10(1 / MSE)")
    if math.isclose(got, 10 * math.log(1 / mse), rel_tol=1e-3):
        raise Hint("use log base 10 (math.log10 or torch.log10), not the natural log")
    if math.isclose(got, -want, rel_tol=1e-3):
        raise Hint("the sign is flipped: 10 * log10(1 / MSE), the better the match the higher the PSNR")
    mean_of_psnrs = sum(psnr(x[i : i + 1], target[i : i + 1]) for i in range(4)) / 4
    if math.isclose(got, mean_of_psnrs, rel_tol=1e-4) and not math.isclose(got, want, rel_tol=1e-4):
        raise Hint("you averaged a PSNR per image; here the MSE is averaged over all pixels of the batch first")
    expect(math.isclose(got, want, rel_tol=1e-4), f"got {got:.4f} dB, expected {want:.4f} dB: 10 * log10(1 / mean((x - target)^2))")


@exercise_check
def check_reparameterise(fn: Callable) -> None:
    """Check `fn(mu, logvar)` returns mu + exp(logvar / 2) * eps with eps ~ N(0, I), with gradients (05_autoencoder)."""
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 2.0, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(9.0), requires_grad=True)  # sigma = 3
    z = expect_tensor(fn(mu, logvar))
    expect_shape(z, (20000, 2), "z")
    expect(z.requires_grad, "no gradient flows through z: build it from mu and logvar with torch operations "
                            "(eps = torch.randn_like(mu)); torch.normal(mu, std) cuts the gradient")
    std = z.detach().std().item()
    expect(std > 0.5, "z has no spread: add the noise, sigma * eps with eps = torch.randn_like(mu)")
    expect(abs(z.detach().mean().item() - 2.0) < 0.1, f"the mean of z is {z.detach().mean().item():.2f}, expected mu = 2: z = mu + sigma * eps")
    if abs(std - 9.0) < 0.3:
        raise Hint("the spread is exp(logvar) = the variance; the standard deviation is sigma = exp(0.5 * logvar)")
    if abs(std - math.log(9.0)) < 0.15:
        raise Hint("logvar is the log of the variance: sigma = exp(0.5 * logvar), not logvar itself")
    expect(abs(std - 3.0) < 0.1, f"the standard deviation of z is {std:.2f}, expected sigma = exp(0.5 * logvar) = 3")
    z.sum().backward()
    expect(mu.grad is not None and torch.allclose(mu.grad, torch.ones_like(mu)), "dz/dmu should be 1: z = mu + sigma * eps")
    expect(logvar.grad is not None and logvar.grad.abs().mean() > 0.1, "no gradient reaches logvar: compute sigma from logvar inside the function")


@exercise_check
def check_kl_divergence(fn: Callable) -> None:
    """Check `fn(mu, logvar)` returns KL(N(mu, sigma^2) || N(0, I)) per image, shape (B,) (05_autoencoder)."""
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    got = expect_tensor(fn(mu, logvar))
    want = kl_divergence(mu, logvar)
    if got.ndim == 0:
        raise Hint("you returned one number: sum over the latent dimensions only, keep one KL per image, shape (B,)")
    if got.shape == mu.shape:
        raise Hint(f"got shape {tuple(got.shape)}: sum over the latent dimensions, one KL per image, shape (B,)")
    expect_shape(got, (5,), "the KL per image")
    if torch.allclose(got, 2 * want, atol=1e-4):
        raise Hint("twice too large: the formula starts with 0.5 *")
    if torch.allclose(got, -want, atol=1e-4):
        raise Hint("the sign is flipped: a KL divergence is never negative; 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1)")
    if torch.allclose(got, want / 3, atol=1e-4):
        raise Hint("you averaged over the latent dimensions: sum them instead")
    expect(got.min() >= -1e-6, "a KL divergence is never negative: check the signs, 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1)")
    expect_close(got, want, "the KL per image", atol=1e-4)
    zero = expect_tensor(fn(torch.zeros(2, 4), torch.zeros(2, 4)))
    expect(torch.allclose(zero, torch.zeros(2), atol=1e-6), "KL should be 0 when mu = 0 and logvar = 0 (q equals the prior N(0, I))")


@exercise_check
@own_rng
def check_vae_encoder(fn: Callable) -> None:
    """Check `fn(latent_dim)` builds a module mapping images (B, 1, 28, 28) to (mu, logvar), each (B, latent_dim) (05_autoencoder)."""
    torch.manual_seed(0)
    encoder = fn(8)
    expect(isinstance(encoder, torch.nn.Module), f"VAEEncoder(8) should be an nn.Module, got {type(encoder).__name__}: "
                                                 "subclass nn.Module and call super().__init__() first")
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    out = encoder(x)
    expect(out is not None, "forward returned None: return mu, logvar")
    if isinstance(out, torch.Tensor):
        if out.shape == (4, 16):
            raise Hint("forward returned one tensor of 2 * latent_dim numbers: split it, mu, logvar = h.chunk(2, dim=1)")
        raise Hint(f"forward returned one tensor {tuple(out.shape)}: return two, mu and logvar, each (B, latent_dim)")
    expect(len(out) == 2, f"forward returned {len(out)} things: return exactly two, mu and logvar")
    mu, logvar = (expect_tensor(o, name) for o, name in zip(out, ("mu", "logvar")))
    expect_shape(mu, (4, 8), "mu for 4 images and latent_dim=8")
    expect_shape(logvar, (4, 8), "logvar for 4 images and latent_dim=8")
    if same_values(mu, logvar):
        raise Hint("mu and logvar are the same numbers: give each its own head (two nn.Linear layers on the same features)")
    expect(bool((logvar < 0).any()), "logvar is never negative: it is a logarithm and may be any real number, so put no "
                                     "activation (exp, softplus, ReLU) after its layer")
    expect(not same_values(mu[0], mu[1]), "every image gets the same mu: compute it from the image x")
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    expect(any(m.stride[0] == 2 for m in convs), "no convolution with stride 2: halve the image twice with "
                                                 "nn.Conv2d(..., 4, stride=2, padding=1), 28 -> 14 -> 7, as the Autoencoder does")
    (mu.sum() + logvar.sum()).backward()
    frozen = [name for name, p in encoder.named_parameters() if p.grad is None]
    expect(not frozen, f"no gradient reaches {frozen[:3]}: every layer must be used on the way to mu or logvar")


def reference_negative_elbo(model, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Return the mean over the batch of reconstruction (BCE summed over pixels) + beta * KL: the negative ELBO."""
    mu, logvar = model.moments(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decode_logits(z)
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    return (recon + beta * kl_divergence(mu, logvar)).mean()


def _elbo_parts(model, x: torch.Tensor, seed: int, sample: bool = True) -> dict[str, torch.Tensor]:
    """Return the pieces of the loss with the noise a learner's answer draws after torch.manual_seed(seed)."""
    F = torch.nn.functional
    torch.manual_seed(seed)
    mu, logvar = model.moments(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
    logits = model.decode_logits(z)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    return {"bce": bce, "mse": (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1), "kl": kl_divergence(mu, logvar),
            "bce_mean": F.binary_cross_entropy_with_logits(logits, x)}


@exercise_check
@own_rng
def check_negative_elbo(fn: Callable) -> str:
    """Check `fn(model, x, beta)` returns the negative ELBO, mean over the batch of BCE (summed over pixels) + beta * KL."""
    from course.autoencoder import Autoencoder, AutoencoderConfig

    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(width=4, latent_dim=3, variational=True)).eval()
    with torch.no_grad():  # move q(z | x) away from N(0, I), so that the KL term is large enough to tell answers apart
        model.to_latent[1].bias.copy_(torch.tensor([2.0, -1.5, 1.0, -2.0, 0.5, 1.0]))
        model.from_latent[0].weight.mul_(30)  # and make the decoder sensitive to z, to tell a sample from mu
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(7)
    got = expect_tensor(fn(model, x, 0.5), "the loss")
    expect(got.numel() == 1, f"got shape {tuple(got.shape)}: average over the batch and return one number")
    expect(got.requires_grad, "the loss carries no gradient: compute it with torch operations from the model's outputs "
                              "(no .item(), no torch.no_grad())")
    got = got.detach().reshape(())
    p = _elbo_parts(model, x, 7)
    want = (p["bce"] + 0.5 * p["kl"]).mean()
    mistakes = {
        "that is the ELBO itself, a number to maximise: the loss is its negative, reconstruction + beta * KL":
            -want,
        "the KL term is missing: add beta * kl_divergence(mu, logvar)": p["bce"].mean(),
        "the KL term is not weighted: multiply it by beta": (p["bce"] + p["kl"]).mean(),
        "KL is a cost: add it to the reconstruction error (the ELBO subtracts it, the loss adds it)":
            (p["bce"] - 0.5 * p["kl"]).mean(),
        "the reconstruction term is averaged over pixels: sum it over the 784 pixels of each image "
        "(reduction='none', then .flatten(1).sum(1)), as the KL is summed over the latent numbers; otherwise "
        "the KL term outweighs it hundreds of times": p["bce_mean"] + 0.5 * p["kl"].mean(),
        "that is a squared error: the ELBO's reconstruction term is -log p(x | z), the binary cross-entropy "
        "F.binary_cross_entropy_with_logits(logits, x) for a decoder that outputs logits": (p["mse"] + 0.5 * p["kl"]).mean(),
        "sum over the batch gives a loss that grows with the batch size: take the mean over the images":
            (p["bce"] + 0.5 * p["kl"]).sum(),
    }
    for hint, wrong in mistakes.items():
        if same_values(got, wrong, atol=1e-3):
            raise Hint(hint)
    q = _elbo_parts(model, x, 7, sample=False)
    if same_values(got, (q["bce"] + 0.5 * q["kl"]).mean(), atol=1e-3):
        raise Hint("you decoded mu: decode a sample z = reparameterise(mu, logvar), so the decoder learns to "
                   "draw the whole cloud around mu")
    expect_close(got, want, "the negative ELBO", atol=1e-3, rtol=1e-4)
    return "This is the loss every VAE minimises; beta = 1 makes it exactly the negative ELBO."
