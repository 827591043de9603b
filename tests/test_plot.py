import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course.plot import LiveLoss, animate_frames, plot_confusion, plot_history, show_image, show_images, show_strip, to_hwc


@pytest.mark.parametrize("shape", [(6, 1, 8, 8), (6, 8, 8), (6, 8, 8, 3), (6, 3, 8, 8), (2, 3, 1, 8, 8)])
def test_show_images_accepts_common_layouts(shape):
    fig = show_images(torch.rand(shape))
    assert len([ax for ax in fig.axes if ax.images]) == 6
    plt.close(fig)


def test_single_images_numpy_lists_and_grad_tensors():
    assert to_hwc(torch.rand(3, 5, 7)).shape == (5, 7, 3)
    assert to_hwc(np.zeros((5, 7))).shape == (5, 7)
    assert to_hwc(torch.rand(1, 5, 5, requires_grad=True)).shape == (5, 5)
    fig = show_images([torch.rand(1, 4, 4), torch.rand(4, 4)], titles=["a", "b"])
    plt.close(fig)
    plt.close(show_image(torch.rand(4, 4)).figure)


def test_bad_shapes_say_what_is_expected():
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2, 2, 2, 2\)"):
        show_images(torch.rand(2, 2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="cannot show an image of shape"):
        to_hwc(torch.rand(4, 5, 6))
    with pytest.raises(ValueError, match="2 titles for 5 images"):
        show_images(torch.rand(5, 4, 4), titles=["a", "b"])


def test_history_live_loss_strip_confusion():
    ax = plot_history({"train_loss": [3.0, 2.0, 1.0], "valid_loss": [3.5, 2.5, 2.0]})
    assert len(ax.lines) == 2
    live = LiveLoss(title="fitting")
    for step in range(5):
        live.update(step, loss=1 / (step + 1))
    live.close()
    assert len(live.history["loss"]) == 5 and live.ax.get_title() == "fitting"
    plt.close(show_strip(torch.rand(5, 1, 6, 6), labels=list("abcde")))
    cm = plot_confusion(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), ["a", "b", "c"])
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    plt.close("all")


def test_animation_is_playable_html():
    html = animate_frames(torch.rand(2, 3, 1, 8, 8))
    assert "<script" in html.data and "anim" in html.data.lower()
    with pytest.raises(ValueError, match=r"\(T, C, H, W\)"):
        animate_frames(torch.rand(8, 8))


def test_live_grid_draws_nothing_outside_jupyter():
    from course.plot import LiveGrid

    calls = []
    grid = LiveGrid(lambda generator: calls.append(generator) or torch.rand(16, 1, 8, 8), "samples")
    grid.update(10, "G")
    assert calls == ["G"] and grid._handle is None
