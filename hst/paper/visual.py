"""Figs. 7-8: input / HST / target crops of every test set, where the restoration is most visible.

For each test set of the deraining and deblurring experiments, the crop is chosen automatically
over every image of the set and every position of a ``crop`` x ``crop`` window, by one of two
rules (``--choose``):

- ``gain`` (the default, what papers' visual figures show): the window where the model removes
  the most error, the largest drop of the squared error from input to restoration, summed over
  the window (so a window is chosen only where the input was visibly degraded and the model
  improved it);
- ``degradation``: the window where the degraded input differs most from its target (largest
  mean absolute difference), whatever the model did there: its worst case.

The same window is then cut from the input, the model's restoration
(``eval/<RUN>/<SET>/restored/``) and the target, and each crop's RGB PSNR against the target crop
is printed above it. The figure's title names the rule.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hst.errors import DataError
from hst.metrics.protocols import psnr_rgb
from hst.paper.tables import read_json
from hst.options import add_out

CROP = 64  # pixels; smaller images give their whole shorter side
CHOICES = ("gain", "degradation")


def best_window(score: np.ndarray, size: int) -> tuple[int, int, float]:
    """(top, left, mean score) of the size x size window of an H x W map with the largest sum.

    ``size`` is clipped to the shorter side; ties go to the first window in row-major order.
    """
    h, w = score.shape
    size = max(1, min(size, h, w))
    integral = np.pad(score.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size])
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), float(sums[top, left] / size**2)


def _check_shapes(**images: np.ndarray) -> None:
    (first, a), *rest = images.items()
    for name, b in rest:
        if a.shape != b.shape:
            raise DataError(f"{first} {a.shape} and {name} {b.shape} differ in size")


def worst_window(inp: np.ndarray, target: np.ndarray, size: int) -> tuple[int, int, float]:
    """(top, left, mean |input - target|) of the size x size window where the two differ most.

    Both images are H x W x 3 uint8 of the same shape; ``size`` is clipped to the shorter side.
    """
    _check_shapes(input=inp, target=target)
    diff = np.abs(inp.astype(np.float64) - target.astype(np.float64)).mean(axis=2)
    return best_window(diff, size)


def gain_window(inp: np.ndarray, restored: np.ndarray, target: np.ndarray, size: int) -> tuple[int, int, float]:
    """(top, left, mean squared error removed) of the size x size window where the restoration
    removes the most squared error: (input - target)^2 - (restored - target)^2, averaged over the
    channels, summed over the window (grey levels squared; negative where the model made it worse)."""
    _check_shapes(input=inp, restoration=restored, target=target)
    t = target.astype(np.float64)
    removed = ((inp.astype(np.float64) - t) ** 2 - (restored.astype(np.float64) - t) ** 2).mean(axis=2)
    return best_window(removed, size)


@dataclass(frozen=True)
class Panel:
    """One row of the figure: a test set's crops."""

    test_set: str
    run: str
    image: str
    top: int
    left: int
    size: int
    crops: tuple[np.ndarray, np.ndarray, np.ndarray]  # input, restored, target

    def psnrs(self) -> tuple[float, float]:
        """RGB PSNR (peak 255, the GoPro protocol's) of the input and the restored crop against the target crop."""
        return psnr_rgb(self.crops[0], self.crops[2]), psnr_rgb(self.crops[1], self.crops[2])


def choose_panel(test_set: str, run: str, images: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], size: int,
                 choose: str = "gain") -> Panel:
    """The panel of one set from (name, input, restored, target) images: the window chosen by
    ``choose`` (see the module's docstring) over every image."""
    if choose not in CHOICES:
        raise DataError(f"choose: {choose!r} is not one of {', '.join(CHOICES)}")
    if not images:
        raise DataError(f"{test_set}: no images to choose a crop from")
    best = None
    for name, inp, restored, target in images:
        try:
            _check_shapes(input=inp, restoration=restored, target=target)
        except DataError as exc:
            raise DataError(f"{test_set}/{name}: {exc}") from None
        if choose == "gain":
            top, left, score = gain_window(inp, restored, target, size)
        else:
            top, left, score = worst_window(inp, target, size)
        if best is None or score > best[0]:
            best = (score, name, top, left, min(size, *inp.shape[:2]), (inp, restored, target))
    _, name, top, left, side, arrays = best
    crops = tuple(a[top:top + side, left:left + side] for a in arrays)
    return Panel(test_set, run, name, top, left, side, crops)


TITLES = {
    "gain": "the crop where HST removes the most error (over every image of the set: its best case)",
    "degradation": "the crop where the input differs most from the target (over every image of the set)",
}


def plot_panels(panels: list[Panel], title: str) -> bytes:
    """The panels as a PNG: one row per test set, columns input / HST / target."""
    from hst.paper.plots import png_bytes, pyplot

    if not panels:
        raise DataError("no panels to draw")
    plt = pyplot()
    fig, axes = plt.subplots(len(panels), 3, figsize=(7.5, 2.7 * len(panels) + 0.5), squeeze=False, layout="constrained")
    for row, panel in zip(axes, panels):
        p_in, p_out = panel.psnrs()
        labels = (f"input {p_in:.2f} dB", f"{panel.run} {p_out:.2f} dB", "target")
        for ax, crop, label in zip(row, panel.crops, labels):
            ax.imshow(crop, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(label, fontsize=8)
        row[0].set_ylabel(f"{panel.test_set}\n{panel.image} @({panel.top},{panel.left})", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return png_bytes(fig, dpi=110, tight=False)


def panel_runs(study_json: str | Path) -> list[tuple[str, str]]:
    """(run, test set) of every panel, as the study saved them in ``study.json``
    (:meth:`hst.study.Study.panel_evaluations`)."""
    return [tuple(x) for x in read_json(study_json)["panels"]]


def build_panels(study_json: str | Path, data_root: str | Path, results: str | Path, size: int = CROP,
                 choose: str = "gain") -> list[Panel]:
    from hst.data.io import read_image
    from hst.data.pairs import list_pairs

    panels = []
    for run, test_set in panel_runs(study_json):
        restored_dir = Path(results) / "eval" / run / test_set / "restored"
        images = []
        for pair in list_pairs(Path(data_root) / test_set):
            path = restored_dir / f"{pair.name}.png"
            if not path.exists():
                raise DataError(f"{path}: missing (run `hst evaluate` for {run} on {test_set})")
            images.append((pair.name, read_image(pair.input), read_image(path), read_image(pair.target)))
        panels.append(choose_panel(test_set, run, images, size, choose))
    return panels


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", required=True, help="the study.json the pipeline wrote under its results folder")
    parser.add_argument("--root", required=True, help="the datasets' root folder (normalised sets)")
    parser.add_argument("--results", help="the results folder (default: the study.json's folder)")
    parser.add_argument("--crop", type=int, default=CROP, help=f"crop side in pixels (default {CROP})")
    parser.add_argument("--choose", choices=CHOICES, default="gain",
                        help="gain: where the model removes the most error (default); degradation: where the input is worst")
    add_out(parser, "the figure (PNG)", old=("--png",))


def run(args: argparse.Namespace) -> int:
    from hst.fsutil import atomic_write_bytes

    if args.crop < 8:
        raise DataError(f"--crop {args.crop}: use at least 8 pixels")
    panels = build_panels(args.study, args.root, args.results or Path(args.study).parent, args.crop, args.choose)
    if not panels:
        raise DataError(f"{args.study}: the study has no derain or deblur experiment to show")
    title = f"Figs. 7-8: input / HST / target; crop PSNR (RGB) against the target crop\n{TITLES[args.choose]}"
    atomic_write_bytes(args.out, plot_panels(panels, title))
    for p in panels:
        p_in, p_out = p.psnrs()
        print(f"{p.test_set}: {p.run} {p.image} crop {p.size}px at ({p.top},{p.left}), "
              f"PSNR input {p_in:.2f} dB -> {p_out:.2f} dB")
    print(args.out)
    return 0
