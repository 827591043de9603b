"""Lesson 05's new checks (the VAE encoder, the negative ELBO) pass on the solution, say "not done yet" on a blank,
and name typical mistakes. PSNR, reparameterise and the KL term are tested in test_checks_lessons04_05.py."""
import torch
import torch.nn.functional as F
from torch import nn

from course.autoencoder import kl_divergence
from course.checks import lesson05
from exercise_checks import assert_hints, assert_not_done, assert_passes


class Encoder(nn.Module):
    """The solution of the encoder exercise."""

    def __init__(self, latent_dim: int, width: int = 16, heads: str = "two", logvar_act=None, stride: int = 2):
        super().__init__()
        size = 7 if stride == 2 else 28
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4 if stride == 2 else 3, stride=stride, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4 if stride == 2 else 3, stride=stride, padding=1), nn.SiLU(), nn.Flatten())
        self.to_mu = nn.Linear(2 * width * size * size, latent_dim)
        self.to_logvar = nn.Linear(2 * width * size * size, latent_dim)
        self.heads, self.logvar_act = heads, logvar_act

    def forward(self, x):
        h = self.features(x * 2 - 1)
        if self.heads == "one":
            return self.to_mu(h), self.to_mu(h)
        if self.heads == "concat":
            return torch.cat([self.to_mu(h), self.to_logvar(h)], 1)
        logvar = self.to_logvar(h)
        return self.to_mu(h), logvar if self.logvar_act is None else self.logvar_act(logvar)


class Unused(Encoder):
    def __init__(self, latent_dim):
        super().__init__(latent_dim)
        self.extra = nn.Linear(3, 3)


def test_vae_encoder(capsys):
    assert_passes(lesson05.check_vae_encoder, Encoder, capsys)
    assert_not_done(lesson05.check_vae_encoder, capsys)
    assert_hints(lesson05.check_vae_encoder, {
        "split it": lambda d: Encoder(d, heads="concat"),
        "the same numbers": lambda d: Encoder(d, heads="one"),
        "no activation": lambda d: Encoder(d, logvar_act=F.softplus),
        "stride 2": lambda d: Encoder(d, width=2, stride=1),
        "no gradient reaches": Unused,
        "should be an nn.Module": lambda d: (lambda x: x),
    }, capsys)


def solution_elbo(model, x, beta=1.0):
    mu, logvar = model.moments(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decode_logits(z)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    return (recon + beta * kl_divergence(mu, logvar)).mean()


def _variant(recon="bce", kl_sign=1.0, weighted=True, sample=True, reduce="mean"):
    def loss(model, x, beta=1.0):
        mu, logvar = model.moments(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        logits = model.decode_logits(z)
        if recon == "bce":
            r = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        elif recon == "bce_mean":
            r = F.binary_cross_entropy_with_logits(logits, x).expand(len(x))
        else:
            r = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)
        per_image = r + kl_sign * (beta if weighted else 1.0) * kl_divergence(mu, logvar)
        return per_image.mean() if reduce == "mean" else per_image.sum()
    return loss


def test_negative_elbo(capsys):
    assert_passes(lesson05.check_negative_elbo, solution_elbo, capsys)
    assert_passes(lesson05.check_negative_elbo, lambda m, x, beta=1.0: lesson05.reference_negative_elbo(m, x, beta), capsys)
    assert_not_done(lesson05.check_negative_elbo, capsys)
    assert_hints(lesson05.check_negative_elbo, {
        "the ELBO itself": lambda m, x, beta=1.0: -solution_elbo(m, x, beta),
        "KL term is missing": _variant(kl_sign=0.0),
        "not weighted": _variant(weighted=False),
        "KL is a cost": _variant(kl_sign=-1.0),
        "averaged over pixels": _variant(recon="bce_mean"),
        "squared error": _variant(recon="mse"),
        "take the mean": _variant(reduce="sum"),
        "you decoded mu": _variant(sample=False),
        "no gradient": lambda m, x, beta=1.0: solution_elbo(m, x, beta).detach(),
        "one number": lambda m, x, beta=1.0: solution_elbo(m, x, beta).expand(3),
    }, capsys)
