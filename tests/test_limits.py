"""Lesson 10's package pieces: memorisation search, watermark, bias measures and FLOP counting, against PyTorch."""
import torch
import torch.nn.functional as F

from course.bias import (COLOURS, CaptionBiasConfig, amplification, balanced_by_colour, caption_bias_config,
                         caption_bias_model, caption_tokenizer, class_shares, colour_of, colour_shares, rebalanced,
                         skewed_captions, skewed_subset)
from course.flops import PUBLISHED, energy_kwh, growth_exponent, step_flops, training_step_flops
from course.latent import lesson08_config
from course.memorise import copies_found, copy_threshold, nearest_neighbours, with_duplicates
from course.lesson_configs import lesson07_sr_config
from course.superres import SRConfig, SRNet, lesson07_superres
from course.text2img import TextToImage, train_text_to_image
from course.watermark import (ATTACKS, correlation_z, crop_border, detect_watermark, detection_rates, embed_watermark,
                              high_pass, jpeg, watermark_key)


def test_nearest_neighbours_matches_brute_force_in_any_batch_size():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(37, 1, 5, 5, generator=g), torch.rand(23, 1, 5, 5, generator=g)
    d = ((a.flatten(1)[:, None] - b.flatten(1)[None]) ** 2).sum(-1).sqrt()  # (37, 23)
    for batch_size in (1, 10, 100):
        dist, idx = nearest_neighbours(a, b, batch_size)
        assert torch.equal(idx, d.argmin(1))
        assert torch.allclose(dist, d.min(1).values, atol=1e-5)


def test_copies_and_threshold():
    g = torch.Generator().manual_seed(1)
    train = torch.rand(100, 16, generator=g)
    held_out = torch.rand(200, 16, generator=g)
    thr = copy_threshold(held_out, train, 0.01)
    assert thr == torch.quantile(nearest_neighbours(held_out, train)[0], 0.01).item()
    samples = torch.cat([train[:5] + 1e-3, torch.rand(20, 16, generator=g)])
    is_copy, _, idx = copies_found(samples, train, thr)
    assert is_copy[:5].all() and torch.equal(idx[:5], torch.arange(5))


def test_with_duplicates_counts():
    idx, dup = with_duplicates(50, 3, 10, 200, seed=0)
    assert len(idx) == 50 + 30 and len(dup) == 3
    assert all((idx == d).sum() == 10 for d in dup)
    assert len(idx.unique()) == 53


def test_correlation_z_is_pearson_times_sqrt_n_and_standard_normal_without_key():
    g = torch.Generator().manual_seed(2)
    key = watermark_key((3, 16, 16), seed=5)
    assert set(key.unique().tolist()) == {-1.0, 1.0} and torch.equal(key[0], key[2])
    x = torch.rand(400, 3, 16, 16, generator=g)
    z = correlation_z(x, key)
    n = key.numel()
    pearson = torch.stack([torch.corrcoef(torch.stack([xi.flatten(), key.flatten()]))[0, 1] for xi in x[:5]])
    k = key.flatten()
    # z = sum(r k) / (std(r) sqrt(N)) and Pearson's r = sum(r k) / (|r| |k - mean(k)|), with |r| = std(r) sqrt(N - 1)
    assert torch.allclose(z[:5], pearson * (k - k.mean()).norm() * ((n - 1) / n) ** 0.5, atol=1e-4)
    assert abs(z.mean()) < 0.2 and 0.8 < z.std() < 1.2
    assert (correlation_z(x + 0.1 * key, key) > 4).all()  # 0.1 * sqrt(768) / std 0.3: z about 9


def test_high_pass_is_image_minus_3x3_mean():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    kernel = torch.full((3, 1, 3, 3), 1 / 9)
    local_mean = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    assert torch.allclose(high_pass(x), x - local_mean, atol=1e-6)
    assert high_pass(torch.full((1, 1, 5, 5), 0.3)).abs().max() < 1e-6


def test_watermark_is_small_detected_and_attacks_keep_shapes():
    x = 0.1 + 0.3 * torch.rand(20, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    key = watermark_key((3, 32, 32), seed=0)
    marked = embed_watermark(x, key)
    assert (marked - x).abs().max() <= 6 / 255 + 1 / 255
    assert (detect_watermark(marked, key) > 4).all() and (detect_watermark(x, key) < 4).all()
    for name, attack in ATTACKS.items():
        out = attack(marked)
        assert out.shape == marked.shape and out.min() >= 0 and out.max() <= 1, name
    smooth = torch.linspace(0.2, 0.8, 32).expand(1, 3, 32, 32).contiguous()
    assert (jpeg(smooth, 95) - smooth).abs().max() < 0.02 and jpeg(x[:, :1], 50).shape == (20, 1, 32, 32)
    assert crop_border(marked)[..., :4, :].abs().max() == 0
    rates = detection_rates(x, key, attacks={"none": ATTACKS["none"], "mirror": ATTACKS["mirror (flip)"]})
    assert rates["none"] == (1.0, 0.0) and rates["mirror"][0] < 0.5


def test_bias_measures():
    y = torch.tensor([3] * 50 + [7] * 50 + [1] * 10)
    idx = skewed_subset(y, 3, 7, 20, 0.1)
    assert (y[idx] == 7).sum() == 2 and (y[idx] == 3).sum() == 18
    probs = F.one_hot(torch.tensor([3, 3, 3, 7, 1]), 10).float()
    assert class_shares(probs, (3, 7)) == {3: 0.75, 7: 0.25}
    assert amplification(0.1, 0.02) == 5.0
    picked = rebalanced(y, {3: 1.0, 7: 1.0}, 2000)
    assert (y[picked] == 1).sum() == 0 and abs((y[picked] == 7).float().mean() - 0.5) < 0.05


def test_flops_of_a_linear_layer_match_the_formula():
    layer = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(5, 8)
    assert step_flops(lambda: layer(x)) == 2 * 5 * 8 * 4  # one multiply and one add per weight per row
    # backward: the gradient for the weight only (x needs none), another 2*B*in*out
    assert training_step_flops(layer, lambda m: m(x).sum()) == 2 * (2 * 5 * 8 * 4)
    assert layer.weight.grad is None


def test_growth_exponent_and_energy():
    sizes = [16, 28, 56]
    assert abs(growth_exponent(sizes, [3 * s**2 for s in sizes]) - 2) < 1e-9
    assert energy_kwh(3600, 1000) == 1.0


def test_published_figures_agree_with_each_other():
    sd = PUBLISHED["Stable Diffusion v1"]
    assert sd["kwh"] == 37_500  # 150,000 A100-hours at 250 W
    assert abs(sd["kg_co2eq"] / sd["kwh"] - 0.3) < 1e-9  # the model card's 11,250 kg: 0.3 kg CO2eq per kWh
    assert 1e22 < sd["flop"] < PUBLISHED["DALL-E 2"]["flop"]


def test_lesson08_config_is_lesson_08s_cpu_latent_model():
    cfg = lesson08_config("cpu")
    assert (cfg.unet.in_channels, cfg.unet.size, cfg.unet.widths, cfg.unet.n_classes) == (4, 7, (32, 64), 10)
    assert (cfg.train_steps, cfg.batch_size, cfg.prediction, cfg.weighting) == (2600, 128, "v", "min_snr")


def test_skewed_captions_have_the_skew_asked_for():
    x, attrs, captions = skewed_captions(CaptionBiasConfig(n=2000, large_red_share=0.9, p_no_colour=0.5))
    assert x.shape == (2000, 3, 16, 16) and 0 <= x.min() and x.max() <= 1
    large, red = attrs["size"] == 1, attrs["colour"] == COLOURS.index("red")
    assert abs(red[large].float().mean() - 0.9) < 0.03 and abs(red[~large].float().mean() - 0.2) < 0.04
    assert (attrs["position"] == attrs["position"][0]).all()  # every shape in the same place (the centre)
    named = [c.split()[2] in COLOURS for c in captions]
    assert abs(sum(named) / 2000 - 0.5) < 0.05
    for c, z, col, shape in zip(captions, attrs["size"], attrs["colour"], attrs["shape"]):
        words = c.split()
        assert words[1] == ("small", "large")[z] and words[-1] == ("circle", "square", "triangle", "cross")[shape]
        assert len(words) == 3 or words[2] == COLOURS[col]
    assert all(caption_tokenizer().unknown_words(c) == [] for c in captions)


def test_colour_of_reads_every_rendered_shape_and_skips_blank_images():
    x, attrs, _ = skewed_captions(CaptionBiasConfig(n=300, large_red_share=0.2))
    assert torch.equal(colour_of(x), attrs["colour"])
    blank = torch.full((2, 3, 16, 16), 0.05)
    assert colour_of(blank).tolist() == [-1, -1]
    shares = colour_shares(torch.tensor([0, 0, 1, -1]))
    assert abs(shares["red"] - 2 / 3) < 1e-6 and abs(shares["green"] - 1 / 3) < 1e-6 and shares["blue"] == 0


def test_balanced_by_colour_evens_the_colours_within_each_size():
    _, attrs, _ = skewed_captions(CaptionBiasConfig(n=4000))
    idx = balanced_by_colour(attrs, seed=0)
    assert len(idx) == 4000
    for size in (0, 1):
        colours = attrs["colour"][idx][attrs["size"][idx] == size]
        assert all(abs(s - 0.2) < 0.04 for s in colour_shares(colours).values())


def test_caption_model_trains_caches_and_loads(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    data = CaptionBiasConfig(n=40)
    cfg = caption_bias_config(widths=(8, 16), text_dim=16, n_steps=2, batch_size=4)
    model, history = caption_bias_model(data, cfg)
    assert isinstance(model, TextToImage) and not model.training and history["step"] == [2]
    assert len(list(tmp_path.glob("10_caption_bias-*.pt"))) == 1
    again, _ = caption_bias_model(data, cfg)  # loaded, not trained again
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    _, _ = caption_bias_model(data, cfg, rebalance=True)  # re-balanced data: another cache entry
    assert len(list(tmp_path.glob("10_caption_bias-*.pt"))) == 2


def test_train_text_to_image_lowers_the_loss_on_one_batch(one_thread):
    tokenizer = caption_tokenizer()
    cfg = caption_bias_config(widths=(8, 16), text_dim=16, n_steps=60, batch_size=8, lr=1e-2, ema_decay=0.0)
    x, _, captions = skewed_captions(CaptionBiasConfig(n=8))
    torch.manual_seed(0)
    _, history = train_text_to_image(TextToImage(cfg), x * 2 - 1, tokenizer(captions), tokenizer("")[0])
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_lesson07_superres_is_lesson_07s_network_and_cached(tmp_path, monkeypatch):
    assert lesson07_sr_config("cpu") == SRConfig(n_steps=500)  # lesson 07's section 6, on a CPU
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setattr("course.lesson_configs.lesson07_sr_config", lambda device=None: SRConfig(n_steps=2, batch_size=4))
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    model, history = lesson07_superres("cpu", x)
    assert isinstance(model, SRNet) and history["step"] == [2] and len(list(tmp_path.glob("07_superres-*.pt"))) == 1
    again, _ = lesson07_superres("cpu", x)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
