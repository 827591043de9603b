import pytest
import torch

from course.diffusion import diffusion_loss
from course.data.shapes import BACKGROUND, shape_pixels, shapes_dataset
from course.text import Tokenizer, build_vocab, words_of
from course.text2img import (TextToImage, TextToImageConfig, attribute_accuracy, edit_with_caption, fill_with_caption,
                             generate, schedule_for)

DS = shapes_dataset(64, 0, seed=3)
TOK = Tokenizer(build_vocab(DS.captions_train), 1 + max(len(words_of(c)) for c in DS.captions_train))


def small_config(**kw) -> TextToImageConfig:
    sizes = dict(text_dim=32, text_layers=1, widths=(16, 32), time_dim=32, diffusion_steps=50)
    return TextToImageConfig(vocab=TOK.vocab, max_len=TOK.max_len, **{**sizes, **kw})


def test_output_shape_for_every_layout():
    x, t, ids = DS.x_train[:3] * 2 - 1, torch.tensor([0, 10, 49]), TOK(DS.captions_train[:3])
    for kw in ({}, {"attn_levels": ()}, {"patch": 1, "widths": (8, 16, 16)}):
        assert TextToImage(small_config(**kw))(x, t, ids).shape == (3, 3, 32, 32), kw


def test_bad_inputs_get_clear_messages():
    model = TextToImage(small_config())
    ids = TOK(DS.captions_train[:2])
    with pytest.raises(ValueError, match="3 channel"):
        model(torch.randn(2, 1, 32, 32), torch.tensor([1, 2]), ids)
    with pytest.raises(ValueError, match="one step and one caption per image"):
        model(torch.randn(2, 3, 32, 32), torch.tensor([1, 2]), ids[:1])


def test_caption_changes_the_output():
    torch.manual_seed(0)
    model = TextToImage(small_config())
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)  # the zero init would hide any difference
    x, t = torch.randn(1, 3, 32, 32).repeat(2, 1, 1, 1), torch.tensor([20, 20])
    out = model(x, t, TOK(["a small red circle at the top left", "a large blue square in the centre"]))
    assert not torch.allclose(out[0], out[1])


def test_overfits_one_batch(one_thread):
    torch.manual_seed(0)
    cfg = small_config()
    model, schedule = TextToImage(cfg), schedule_for(cfg)
    x0, ids = DS.x_train[:8] * 2 - 1, TOK(DS.captions_train[:8])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        g.manual_seed(0)  # the same noise and steps every time: a fixed regression problem
        loss = diffusion_loss(model, schedule, x0, ids, cfg.prediction, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_generate_gives_images_in_range_and_is_seeded():
    model = TextToImage(small_config())
    captions = DS.captions_train[:3]
    a = generate(model, TOK, captions, guidance=2.0, n_steps=3, seed=1)
    b = generate(model, TOK, captions, guidance=2.0, n_steps=3, seed=1)
    assert a.shape == (3, 3, 32, 32) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)


def test_attribute_accuracy_of_real_images_is_high():
    acc = attribute_accuracy(DS.x_train, DS.attrs_train)
    assert set(acc) == {"shape", "colour", "size", "position", "all four"}
    assert min(acc.values()) >= 0.9
    shuffled = {k: v.roll(1) for k, v in DS.attrs_train.items()}
    assert attribute_accuracy(DS.x_train, shuffled)["all four"] < 0.2


def test_cross_attention_maps_one_per_layer():
    from course.text2img import cross_attention_maps

    model = TextToImage(small_config(attn_levels=(0, 1)))  # attention at 16x16 and 8x8: down, mid and up
    ids = TOK(DS.captions_train[:2])
    maps = cross_attention_maps(model, torch.randn(2, 3, 32, 32), torch.tensor([5, 5]), ids)
    assert [tuple(m.shape) for m in maps] == [(2, 16, 16, 9), (2, 8, 8, 9), (2, 8, 8, 9), (2, 8, 8, 9), (2, 16, 16, 9)]
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 16, 16), atol=1e-5)
    heads = cross_attention_maps(model, torch.randn(2, 3, 32, 32), torch.tensor([5, 5]), ids, per_head=True)
    assert tuple(heads[0].shape) == (2, model.cfg.n_heads, 16, 16, 9)
    assert not torch.allclose(heads[0][:, 0], heads[0][:, 1])  # each head its own map
    torch.manual_seed(1)
    x = torch.randn(2, 3, 32, 32)
    averaged = cross_attention_maps(model, x, torch.tensor([5, 5]), ids)
    assert all(torch.allclose(h.mean(1), m, atol=1e-6)
               for h, m in zip(cross_attention_maps(model, x, torch.tensor([5, 5]), ids, per_head=True), averaged))


def test_shape_pixels_finds_the_shape_and_nothing_else():
    mask = shape_pixels(DS.x_train[:4])
    assert mask.shape == (4, 32, 32) and mask.dtype == torch.bool
    assert mask.any((1, 2)).all()  # every image has its shape
    assert not shape_pixels(torch.full((1, 3, 32, 32), BACKGROUND)).any()


def test_edit_with_caption_keeps_the_input_at_strength_zero_and_changes_it_above():
    torch.manual_seed(0)
    model = TextToImage(small_config())
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)
    x, captions = DS.x_train[:2], DS.captions_train[2:4]
    kept = edit_with_caption(model, TOK, x, captions, strength=0.0, n_steps=3)
    assert torch.allclose(kept, x, atol=1e-6)
    edited = edit_with_caption(model, TOK, x, captions, strength=0.6, n_steps=3, seed=1)
    assert edited.shape == x.shape and 0 <= edited.min() and edited.max() <= 1
    assert (edited - x).abs().mean() > 0.01
    assert torch.equal(edited, edit_with_caption(model, TOK, x, captions, strength=0.6, n_steps=3, seed=1))
    with pytest.raises(ValueError, match="one caption per image"):
        edit_with_caption(model, TOK, x, captions[:1], strength=0.5)


def test_fill_with_caption_changes_only_the_region_asked_for():
    torch.manual_seed(0)
    model = TextToImage(small_config())
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)
    x = DS.x_train[:2]
    keep = torch.ones(2, 1, 32, 32)
    keep[:, :, 8:24, 8:24] = 0
    out = fill_with_caption(model, TOK, x, keep, DS.captions_train[4:6], n_steps=3, resample=1)
    assert torch.allclose(out * keep, x * keep, atol=1e-4)  # outside the region: the input, unchanged
    assert ((out - x).abs() * (1 - keep)).mean() > 0.01  # inside: drawn anew


def test_lesson_09s_training_loop_trains_the_same_model_as_the_packages(one_thread):
    """The lesson writes the loop out to show it; lesson 10 uses the package's: one config, one model."""
    from course.diffusion import drop_condition
    from course.ema import EMA
    from course.text2img import train_text_to_image
    from course.train import train_steps
    from solution_notebooks import notebook_function

    cfg = small_config(n_steps=6, batch_size=8)
    x, ids = DS.x_train * 2 - 1, TOK(DS.captions_train)
    names = dict(torch=torch, TextToImage=TextToImage, TextToImageConfig=TextToImageConfig, schedule_for=schedule_for,
                 EMA=EMA, drop_condition=drop_condition, diffusion_loss=diffusion_loss, train_steps=train_steps,
                 device="cpu", x_train=x, ids_train=ids, tokenizer=TOK)
    exec(notebook_function("09_text_to_image", "train_text_to_image"), names)
    torch.manual_seed(0)
    lesson_model, _ = names["train_text_to_image"](TextToImage(cfg), cfg)
    torch.manual_seed(0)
    package_model, _ = train_text_to_image(TextToImage(cfg), x, ids, TOK("")[0], progress=False)
    for (name, a), b in zip(lesson_model.state_dict().items(), package_model.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs: the lesson's loop and course.text2img's train different models"


def test_shape_region_is_the_shape_grown_by_the_margin():
    from course.data.shapes import shape_region

    x = DS.x_train[:4]
    pixels = shape_pixels(x)
    assert torch.equal(shape_region(x, margin=0)[:, 0], pixels.float())
    grown = shape_region(x, margin=3)
    assert grown.shape == (4, 1, 32, 32) and set(grown.unique().tolist()) <= {0.0, 1.0}
    assert bool((grown[:, 0] >= pixels.float()).all()) and grown.sum() > pixels.sum()
    ys, xs = pixels[0].nonzero(as_tuple=True)  # the grown region reaches exactly 3 pixels past the shape's rows
    rows = grown[0, 0].any(1).nonzero()[:, 0]
    assert rows.min() == max(ys.min() - 3, 0) and rows.max() == min(ys.max() + 3, 31)


def test_guidance_interval_reaches_the_sampler_of_every_entry_point():
    torch.manual_seed(0)
    model = TextToImage(small_config())
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)
    x, captions = DS.x_train[:2], DS.captions_train[2:4]
    keep = torch.ones(2, 1, 32, 32)
    keep[:, :, 8:24, 8:24] = 0
    calls = {  # n_steps=3 on 50 steps visits t/(T-1) = 1, 0.49 and 0: the interval (0.6, 0.9) holds none of them
        "generate": lambda **kw: generate(model, TOK, captions, n_steps=3, seed=1, **kw),
        "edit": lambda **kw: edit_with_caption(model, TOK, x, captions, strength=1.0, n_steps=3, seed=1, **kw),
        "fill": lambda **kw: fill_with_caption(model, TOK, x, keep, captions, n_steps=3, seed=1, resample=1, **kw),
    }
    for name, call in calls.items():
        plain = call(guidance=1.0)
        assert torch.equal(call(guidance=5.0, guidance_interval=(0.6, 0.9)), plain), f"{name}: guided outside its interval"
        assert not torch.allclose(call(guidance=5.0, guidance_interval=(0.4, 0.9)), plain), f"{name}: interval ignored"
