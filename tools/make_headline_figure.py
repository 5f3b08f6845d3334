"""Draw the book's headline figure from the committed paper-scale XFT result.

Reads ``results/xft/xft-mnist-784x500-gpu.npz`` (2,000,000 chains of the reference
784x500 MNIST RBM, 300 sweeps at T1 = 1, one block sweep at each T2; see
``results/xft/README.md`` for its provenance) and writes
``results/figures/xft_paper_scale.png``: log P(Q)/P(-Q) against the heat Q for every
T2 != T1, with Poisson error bars and the theory lines (beta1 - beta2) Q, residuals
below. Chapter 4 analyses the same file in full. Run by ``make book``; the PNG is
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

from rbmlib import plotting, xft  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--result", type=Path, default=ROOT / "results/xft/xft-mnist-784x500-gpu.npz")
    ap.add_argument("--out", type=Path, default=ROOT / "results/figures/xft_paper_scale.png")
    ap.add_argument("--width", type=float, default=0.5, help="coarse bin width (chapter 4 justifies 0.5)")
    args = ap.parse_args(argv)
    res = xft.XFTResult.load(args.result)
    betas = [b for b in res.beta2s if abs(b - res.beta1) > 1e-12]
    analyses = [xft.analyse(res, "hv", b, args.width) for b in betas]
    labels = [f"$T_2 = {1 / b:g}$: fitted slope {a['fit']['slope']:+.4f} ± {a['fit']['stderr']:.4f}, "
              f"theory {res.beta1 - b:+.4f}" for a, b in zip(analyses, betas)]
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    plotting.plot_log_ratio(analyses, labels=labels, axes=axes)
    axes[0].set_title(f"Heat-exchange fluctuation theorem, 784x500 MNIST RBM, {res.n_done:,} chains\n"
                      f"(one Gibbs sweep at $T_2$ from equilibrium at $T_1 = 1$; lines: $(\\beta_1-\\beta_2)Q$, no fit)",
                      fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": None})
    os.replace(tmp, args.out)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
