"""Draw the book's headline figure from the committed paper-scale XFT result.

Reads ``results/xft/xft-mnist-784x500-gpu.npz`` (2,000,000 chains of the reference
784x500 MNIST RBM, 300 sweeps at T1 = 1, one block sweep at each T2; see
``results/xft/README.md`` for its provenance) and ``results/xft/xft-mnist-784x500-certified.npz``
(6,000,000 starts from certified equilibrium, four quench kernels) and writes
``results/figures/xft_paper_scale.png``. Left: log P(Q)/P(-Q) against the heat Q for every
T2 != T1, with Poisson error bars and the theory lines (beta1 - beta2) Q, residuals
below (the paper's plot). Right: from certified equilibrium, the one-histogram slope
minus theory of the sweep 'hv', its reversal 'vh' and the reversible 'hvh' and 'v', with
jackknife errors. Chapter 4 analyses both files in full. Run by ``make book``; the PNG is
committed so that the landing page shows it without executing anything.

Usage:  python tools/make_headline_figure.py [--result PATH] [--out PATH] [--width 0.5]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rbmlib import plotting, xft  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--result", type=Path, default=ROOT / "results/xft/xft-mnist-784x500-gpu.npz")
    ap.add_argument("--out", type=Path, default=ROOT / "results/figures/xft_paper_scale.png")
    ap.add_argument("--certified", type=Path, default=ROOT / "results/xft/xft-mnist-784x500-certified.npz")
    ap.add_argument("--width", type=float, default=0.5, help="coarse bin width (chapter 4 justifies 0.5)")
    args = ap.parse_args(argv)
    res = xft.XFTResult.load(args.result)
    betas = [b for b in res.beta2s if abs(b - res.beta1) > 1e-12]
    analyses = [xft.analyse(res, "hv", b, args.width) for b in betas]
    labels = [f"$T_2 = {1 / b:g}$: fitted slope {a['fit']['slope']:+.4f} ± {a['fit']['stderr']:.4f}, "
              f"theory {res.beta1 - b:+.4f}" for a, b in zip(analyses, betas)]
    fig = plt.figure(figsize=(13, 6))
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 1], width_ratios=[1.25, 1])
    axes = [fig.add_subplot(grid[0, 0])]
    axes.append(fig.add_subplot(grid[1, 0], sharex=axes[0]))
    plotting.plot_log_ratio(analyses, labels=labels, axes=axes)
    axes[0].set_title(f"The paper's experiment: {res.n_done:,} chains, 300 sweeps from noise, one sweep 'hv' at $T_2$\n"
                      f"(lines: $(\\beta_1-\\beta_2)Q$, no fit)", fontsize=10)
    cert = xft.XFTResult.load(args.certified)
    ax = fig.add_subplot(grid[:, 1])
    styles = {"hv": ("C3", "o", "sweep 'hv' (the paper's)"), "vh": ("C0", "s", "reversed sweep 'vh'"),
              "hvh": ("k", "^", "reversible 'hvh'"), "v": ("0.5", "v", "half-update 'v'")}
    far = [b for b in cert.beta2s if abs(b - cert.beta1) > 1e-12]
    for m, (order, (col, mk, lab)) in enumerate(styles.items()):
        fits = [xft.jackknife_slope(cert, order, b, args.width) for b in far]
        x = np.array([1 / b for b in far]) + 0.012 * (m - 1.5)
        ax.errorbar(x, [1e3 * (f["slope"] - f["beta_diff"]) for f in fits], yerr=[1e3 * f["stderr"] for f in fits],
                    fmt=mk, color=col, ms=6, capsize=2, label=lab)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("$T_2$")
    ax.set_ylabel(r"fitted slope $-\ (\beta_1-\beta_2)$  [$10^{-3}$]")
    ax.set_title(f"From certified equilibrium: {cert.n_starts:,} starts\n(errors: jackknife over "
                 f"{cert.n_groups} independent chain groups)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": None})
    os.replace(tmp, args.out)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
