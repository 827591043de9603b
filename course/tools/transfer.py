"""`python -m course.tools.transfer [FOLDER]` (or `--figure PNG [FOLDER]`): how close the course's digits and digit judge come to real handwriting.

A maintainer's measurement on a folder of real MNIST test digits (by default `../shared/data/mnist-dev`
beside the project; any folder `load_dataset("mnist", root=...)` reads). No test and no notebook needs
it: learners do not have that folder. `make bench` runs it when the folder is there and says so in one
line when it is not. Reports, against the targets of issue 11:
- lesson 04's CNN (default config, trained on the course's digits only) on the real digits;
- the digit judge's accuracy and "recognisable" share on the real digits, and how often it calls
  junk recognisable;
- the Fréchet distance (judge features) from real digits to the course's, beside the distance
  between two halves of the course's own held-out digits.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_FOLDER = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "mnist-dev"))


def measure(folder: str = DEFAULT_FOLDER) -> dict[str, float]:
    """Return (and report) the transfer figures on the real digits in `folder`."""
    import torch

    from course.cache import trained
    from course.cnn import CNN, CNNConfig
    from course.data import load_dataset
    from course.device import cpu_threads
    from course.judge import judge_outputs, junk_test_set
    from course.metrics import frechet_distance, recognisability, reference_features
    from course.report import report
    from course.train import predict, train_classifier

    real = load_dataset("mnist", root=folder)
    x_real, y_real = real.x_test, real.y_test
    digits = load_dataset("glyphs")
    cfg = CNNConfig()
    with cpu_threads(1):  # as lesson 04 trains it; the same cache entry, so a bench that ran lesson 04 reuses it
        cnn, _ = trained("04_cnn", cfg, lambda: CNN(cfg),
                         lambda: train_classifier(CNN(cfg), cfg, digits.x_train, digits.y_train, "cpu",
                                                  valid=(digits.x_test, digits.y_test), progress=False),
                         "cpu", data=digits.name)
    out = {}
    out["cnn_course_test_accuracy"] = report(
        "cnn_course_test_accuracy", (predict(cnn, digits.x_test).argmax(1) == digits.y_test).float().mean(), ">= 0.99")
    out["cnn_real_accuracy"] = report(
        "cnn_real_accuracy", (predict(cnn, x_real).argmax(1) == y_real).float().mean(), ">= 0.90")
    feats, probs = judge_outputs(x_real)
    p = probs["digit"]
    out["judge_real_accuracy"] = report("judge_real_accuracy", (p.argmax(1) == y_real).float().mean(), ">= 0.90")
    out["judge_real_recognisable"] = report("judge_real_recognisable", recognisability(p), ">= 0.85")
    junk = junk_test_set(digits.x_test[:1000])
    worst = max(recognisability(judge_outputs(x)[1]["digit"]) for x in junk.values())
    out["judge_junk_recognisable_max"] = report("judge_junk_recognisable_max", worst, "<= 0.05")
    ref = reference_features("glyphs")  # 2,000 held-out course digits
    half = len(ref) // 2
    out["frechet_real_to_course"] = report("frechet_real_to_course", frechet_distance(feats, ref[:half]), digits=2)
    out["frechet_course_halves"] = report("frechet_course_halves", frechet_distance(ref[half:], ref[:half]), digits=2)
    return out


def comparison_figure(folder: str, path: str, n: int = 60) -> str:
    """Write a PNG with n real digits (panel A) beside n of the course's digits (panel B); return the path.

    Lesson 00 shows it (as a cell attachment, so it needs neither the folder nor a network).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from course.data import load_dataset

    real = load_dataset("mnist", root=folder).x_test[:n]
    ours = load_dataset("glyphs").x_test[:n]

    def sheet(x: torch.Tensor, cols: int = 10) -> torch.Tensor:  # (n, 1, 28, 28) -> (rows*28, cols*28)
        return x[:, 0].reshape(-1, cols, 28, 28).permute(0, 2, 1, 3).reshape(-1, cols * 28)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, x, title in zip(axes, (real, ours), ("A", "B")):
        ax.imshow(sheet(x), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def skipped(folder: str) -> str:
    """Return the one line that says the measurement was skipped because `folder` is missing."""
    return f"real-digit measurement skipped: no folder {folder} (a maintainer's measuring stick, not course data)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--figure"]:
        print("wrote", comparison_figure(argv[2] if len(argv) > 2 else DEFAULT_FOLDER, argv[1]))
        return 0
    folder = argv[0] if argv else DEFAULT_FOLDER
    if not os.path.isdir(folder):
        print(skipped(folder))
        return 0
    try:
        measure(folder)
    except AssertionError as err:
        print(f"✗ {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
