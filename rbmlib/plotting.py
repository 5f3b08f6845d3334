"""Plotting and display helpers shared by the chapters.

Figures
-------
* :func:`plot_distribution_bars` -- one or several distributions over enumerated
  binary states (exact tables, sampled histograms with error bars).
* :func:`plot_digits` -- a grid of images (MNIST digits, filters, samples).
* :func:`plot_bipartite` -- the RBM as a bipartite graph, edges coloured by ``W``.
* :func:`plot_heatmap` -- a matrix (transition kernel, flux, conditional table)
  with a symmetric or sequential colour scale.
* :func:`plot_temperature_panels` -- ``p_beta(v)`` and ``p_beta(h_j = 1 | v)`` of a
  small RBM at several inverse temperatures (the static twin of
  :func:`rbmlib.widgets.temperature_explorer`).
* :func:`plot_work_histograms` -- forward and reversed work histograms (Crooks, chapter 3).
* :func:`plot_log_ratio` -- the XFT figure from :func:`rbmlib.xft.analyse` (chapter 4).
* :func:`plot_learning_runs` -- exact learning runs of :func:`rbmlib.cd.exact_learning_run` (chapter 5).

Live sessions
-------------
* :func:`interactive` -- ``True`` only in a live Jupyter front end, so that
  notebooks executed by ``tools/execute_notebooks.py`` or ``pytest --nbval`` never
  display widgets (their output differs between runs). Set the environment variable
  ``RBMLIB_INTERACTIVE=1`` (or ``0``) to force it on (or off). The explorers
  themselves are in :mod:`rbmlib.widgets`.

Text
----
* :func:`state_labels`, :func:`format_violation`, :func:`markdown_table` --
  deterministic, honestly rounded text for tables of measured errors.

All functions take plain arrays (or an :class:`rbmlib.RBM`) and return the
matplotlib objects they drew on; none calls ``plt.show()``.
"""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence

import numpy as np

from .model import RBM

__all__ = [
    "interactive",
    "state_labels",
    "format_violation",
    "format_p",
    "markdown_table",
    "plot_distribution_bars",
    "plot_digits",
    "plot_bipartite",
    "plot_heatmap",
    "plot_temperature_panels",
    "plot_work_histograms",
    "plot_log_ratio",
    "plot_learning_runs",
]


# ----------------------------------------------------------------------------
# environment
# ----------------------------------------------------------------------------
def interactive() -> bool:
    """Whether widgets should be displayed: ``True`` only in a live Jupyter session.

    Rules, in order:

    1. ``RBMLIB_INTERACTIVE`` set to ``1/true/yes`` -> ``True``; to ``0/false/no`` -> ``False``.
    2. Not running inside an IPython kernel (plain Python, tests) -> ``False``.
    3. Inside a kernel started by a Jupyter server (JupyterLab, Notebook: the server sets
       ``JPY_SESSION_NAME`` in the kernel's environment) -> ``True``.
    4. Otherwise (headless execution by ``nbclient``/``nbval``, as in ``make book`` and
       ``make test``) -> ``False``.

    Notebook cells guard their widgets with ``if interactive(): ...`` so the committed,
    nbval-checked outputs never contain a widget (whose representation changes between
    runs). Front ends that do not go through a Jupyter server (e.g. some editors) can
    opt in with ``RBMLIB_INTERACTIVE=1``.
    """
    flag = os.environ.get("RBMLIB_INTERACTIVE", "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    if flag in ("0", "false", "no", "off"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book extra
        return False
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    return bool(os.environ.get("JPY_SESSION_NAME"))


# ----------------------------------------------------------------------------
# text helpers
# ----------------------------------------------------------------------------
def state_labels(n_units: int) -> list[str]:
    """Labels ``'000', '001', ...`` of the ``2**n_units`` states in :func:`rbmlib.exact.states` order."""
    n_units = int(n_units)
    if n_units < 0 or n_units > 16:
        raise ValueError(f"state_labels: n_units must be in 0..16 (2**n labels), got {n_units}.")
    return [format(k, f"0{n_units}b") if n_units else "" for k in range(2 ** n_units)]


def format_p(p: float, *, floor: float = 1e-10) -> str:
    """A p-value at the precision it honestly has, the same text on every machine.

    ``'< 1e-10'`` below ``floor`` (far in the tail, where the value is set by the
    tail approximation and by round-off), two significant digits in scientific
    notation below 0.01 (``'3.2e-04'``), two decimals above (``'0.41'``).
    """
    p = float(p)
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise ValueError(f"format_p expects a p-value in [0, 1], got {p!r}.")
    if p < floor:
        return f"< {floor:.0e}"
    return f"{p:.1e}" if p < 0.01 else f"{p:.2f}"


def format_violation(x: float, *, noise: float = 1e-12, digits: int = 2) -> str:
    """Honest, machine-independent text for a measured error or violation.

    Parameters
    ----------
    x : float >= 0
        The measured quantity (e.g. ``max |p(s) T(s,s') - p(s') T(s',s)|``).
    noise : float > 0
        Size below which ``x`` is floating-point round-off, not a property of the
        model. Values below it print as ``'< 1e-12'`` (the bin, not the noise
        itself, which differs between machines and BLAS builds).
    digits : int >= 1
        Significant digits shown for values above ``noise``.

    Returns
    -------
    str
        ``'< {noise:.0e}'`` or ``x`` in scientific notation with ``digits`` significant
        digits, e.g. ``'1.1e-03'``.
    """
    x = float(x)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"format_violation expects a finite value >= 0, got {x!r}.")
    if noise <= 0:
        raise ValueError(f"noise must be > 0, got {noise!r}.")
    if x < noise:
        return f"< {noise:.0e}"
    return f"{x:.{int(digits) - 1}e}"


def markdown_table(rows: Sequence[Sequence], headers: Sequence[str], *, align: str | None = None) -> str:
    """A Markdown (GFM) table, for ``IPython.display.Markdown``.

    Parameters
    ----------
    rows : sequence of sequences
        One row per entry; cells are converted with ``str``.
    headers : sequence of str
        Column titles; every row must have ``len(headers)`` cells.
    align : str, optional
        One character per column: ``'l'``, ``'r'`` or ``'c'`` (default: left).
    """
    headers = [str(h) for h in headers]
    n = len(headers)
    if n == 0:
        raise ValueError("markdown_table needs at least one column header.")
    align = align or "l" * n
    if len(align) != n or set(align) - set("lrc"):
        raise ValueError(f"align must have one of 'l', 'r', 'c' per column ({n}), got {align!r}.")
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule[c] for c in align) + " |"]
    for i, row in enumerate(rows):
        cells = [str(c).replace("|", "\\|") for c in row]
        if len(cells) != n:
            raise ValueError(f"row {i} has {len(cells)} cells, expected {n} (one per header).")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------
def _plt():
    import matplotlib.pyplot as plt
    return plt


def _new_ax(ax, figsize):
    if ax is None:
        _, ax = _plt().subplots(figsize=figsize)
    return ax


def plot_distribution_bars(dists, *, labels=None, errors=None, ax=None, log: bool = False,
                           title: str | None = None, xlabel: str = "state", ylabel: str = "probability",
                           max_labels: int = 32):
    """Bar chart of one or several distributions over the same enumerated states.

    Parameters
    ----------
    dists : array-like, shape (n_states,), or mapping name -> array (n_states,)
        Probabilities (e.g. :func:`rbmlib.exact.marginal_visible`) or sampled
        frequencies. Several distributions are drawn as grouped bars.
    labels : sequence of str, optional
        Tick label per state; default: binary strings when ``n_states`` is a power
        of two (:func:`state_labels`), else the state index.
    errors : array-like or mapping name -> array, optional
        Error bars (one standard error, say) for the distributions of the same name.
    ax : matplotlib Axes, optional
    log : bool
        Logarithmic probability axis.
    max_labels : int
        Above this many states the tick labels are thinned.

    Returns
    -------
    ax : matplotlib Axes
    """
    if not isinstance(dists, Mapping):
        dists = {None: dists}
    arrays = {k: np.asarray(v, dtype=float).ravel() for k, v in dists.items()}
    sizes = {a.size for a in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"all distributions must have the same number of states, got sizes {sorted(sizes)}.")
    n = sizes.pop()
    if n == 0:
        raise ValueError("plot_distribution_bars: empty distribution.")
    if errors is not None and not isinstance(errors, Mapping):
        errors = {next(iter(arrays)): errors}
    errors = {k: np.asarray(v, dtype=float).ravel() for k, v in (errors or {}).items()}
    for k, e in errors.items():
        if k not in arrays or e.size != n:
            raise ValueError(f"errors[{k!r}] must match a distribution of {n} states.")
    if labels is None:
        nb = int(round(math.log2(n))) if n > 0 else 0
        labels = state_labels(nb) if 2 ** nb == n and nb <= 16 else [str(i) for i in range(n)]
    if len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} states.")
    ax = _new_ax(ax, (max(4.0, 0.25 * n), 3.0))
    x = np.arange(n)
    m = len(arrays)
    width = 0.8 / m
    for i, (name, p) in enumerate(arrays.items()):
        ax.bar(x + (i - (m - 1) / 2) * width, p, width=width, label=name,
               yerr=errors.get(name), capsize=2 if name in errors else 0, log=log)
    step = max(1, math.ceil(n / max_labels))
    ax.set_xticks(x[::step])
    ax.set_xticklabels([labels[i] for i in range(0, n, step)], rotation=90, fontsize=7,
                       family="monospace")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if m > 1 or next(iter(arrays)) is not None:
        ax.legend(fontsize=8)
    return ax


def plot_digits(images, *, n_cols: int = 10, shape: tuple[int, int] = (28, 28), titles=None,
                cmap: str = "gray_r", vmin=None, vmax=None, fig=None, scale: float = 1.0):
    """Grid of images, one per row of ``images`` (MNIST digits, samples, filters).

    Parameters
    ----------
    images : array-like, shape (n_images, shape[0] * shape[1]) or (n_images, *shape)
    n_cols : int
        Images per row of the grid.
    shape : (int, int)
        Height and width of one image.
    titles : sequence of str, optional
        One title per image.
    cmap, vmin, vmax :
        Passed to ``imshow``; by default each image uses its own range, pass
        ``vmin=0, vmax=1`` for binary or probability images.
    fig : matplotlib Figure, optional
    scale : float
        Inches per image.

    Returns
    -------
    fig : matplotlib Figure
    """
    imgs = np.asarray(images, dtype=float)
    h, w = int(shape[0]), int(shape[1])
    if imgs.ndim == 1:
        imgs = imgs[None, :]
    if imgs.ndim == 3 and imgs.shape[1:] == (h, w):
        imgs = imgs.reshape(len(imgs), h * w)
    if imgs.ndim != 2 or imgs.shape[1] != h * w:
        raise ValueError(f"images must have shape (n_images, {h * w}) or (n_images, {h}, {w}), "
                         f"got {np.shape(images)}; pass shape=(height, width) for other sizes.")
    n = len(imgs)
    if n == 0:
        raise ValueError("plot_digits: no images to draw.")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images.")
    n_cols = max(1, min(int(n_cols), n))
    n_rows = math.ceil(n / n_cols)
    plt = _plt()
    if fig is None:
        fig = plt.figure(figsize=(scale * n_cols, scale * n_rows * (1.2 if titles is not None else 1.0)))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k < n:
            ax.imshow(imgs[k].reshape(h, w), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=7)
    return fig


def plot_bipartite(rbm: RBM, *, ax=None, cmap: str = "RdBu_r", annotate: bool = True):
    """Draw a small RBM as a bipartite graph: visible row, hidden row, edges coloured by ``W_ij``.

    Node colour shows the bias (same colour scale as the couplings).

    Returns
    -------
    ax : matplotlib Axes
    """
    if not isinstance(rbm, RBM):
        raise TypeError(f"plot_bipartite expects an rbmlib.RBM, got {type(rbm).__name__}.")
    if rbm.n_visible > 40 or rbm.n_hidden > 40:
        raise ValueError(f"plot_bipartite draws small models only (<= 40 units per layer), got {rbm}. "
                         "Use plot_digits(rbm.W.T) to look at the filters of a large model.")
    plt = _plt()
    from matplotlib.colors import TwoSlopeNorm
    ax = _new_ax(ax, (max(4.0, 0.8 * max(rbm.n_visible, rbm.n_hidden)) + 1.5, 2.8))
    W, a, b = (np.asarray(x, float) for x in (rbm.W, rbm.a, rbm.b))
    lim = float(max(np.max(np.abs(W)), np.max(np.abs(a)), np.max(np.abs(b)), 1e-12))
    norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
    cm = plt.get_cmap(cmap)
    xv = np.arange(rbm.n_visible) - (rbm.n_visible - 1) / 2
    xh = np.arange(rbm.n_hidden) - (rbm.n_hidden - 1) / 2
    for i in range(rbm.n_visible):
        for j in range(rbm.n_hidden):
            ax.plot([xv[i], xh[j]], [0, 1], color=cm(norm(W[i, j])),
                    lw=0.5 + 3.0 * abs(W[i, j]) / lim, zorder=1)
    ax.scatter(xv, np.zeros_like(xv), s=300, c=[cm(norm(x)) for x in a], edgecolors="k", zorder=2)
    ax.scatter(xh, np.ones_like(xh), s=300, c=[cm(norm(x)) for x in b], edgecolors="k", zorder=2)
    if annotate:
        for i, x in enumerate(xv):
            ax.text(x, 0, f"$v_{{{i}}}$", ha="center", va="center", fontsize=8, zorder=3)
        for j, x in enumerate(xh):
            ax.text(x, 1, f"$h_{{{j}}}$", ha="center", va="center", fontsize=8, zorder=3)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cm)
    ax.figure.colorbar(sm, ax=ax, label="$W_{ij}$ (edges), $a_i$, $b_j$ (nodes)", shrink=0.8)
    ax.set_ylim(-0.4, 1.4)
    ax.set_axis_off()
    return ax


def plot_heatmap(M, *, ax=None, symmetric: bool = False, cmap: str | None = None, title: str | None = None,
                 xlabel: str | None = None, ylabel: str | None = None, colorbar_label: str | None = None,
                 xticklabels=None, yticklabels=None):
    """Show a matrix (transition kernel, probability flux, conditional table).

    Parameters
    ----------
    M : array-like, shape (n_rows, n_cols)
    symmetric : bool
        Colour scale symmetric about zero (diverging colour map), for signed
        quantities such as ``p(s) T(s,s') - p(s') T(s',s)``.

    Returns
    -------
    ax : matplotlib Axes
    """
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"plot_heatmap expects a 2-D array, got shape {M.shape}.")
    ax = _new_ax(ax, (4.0, 3.4))
    if symmetric:
        lim = float(np.max(np.abs(M))) or 1.0
        im = ax.imshow(M, cmap=cmap or "RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest", aspect="auto")
    else:
        im = ax.imshow(M, cmap=cmap or "viridis", interpolation="nearest", aspect="auto")
    ax.figure.colorbar(im, ax=ax, label=colorbar_label)
    if xticklabels is not None:
        ax.set_xticks(np.arange(M.shape[1]))
        ax.set_xticklabels(xticklabels, rotation=90, fontsize=7, family="monospace")
    if yticklabels is not None:
        ax.set_yticks(np.arange(M.shape[0]))
        ax.set_yticklabels(yticklabels, fontsize=7, family="monospace")
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


def _temperature_axes_draw(rbm, beta, ax_p, ax_c, v_max=None):
    from . import exact
    pv = exact.marginal_visible(rbm, beta)
    plot_distribution_bars(pv, ax=ax_p, xlabel="visible state $v$", ylabel=r"$p_\beta(v)$")
    ax_p.set_ylim(0, v_max if v_max is not None else max(1e-3, 1.05 * float(pv.max())))
    ax_p.set_title(rf"$\beta = {beta:g}$")
    V = exact.states(rbm.n_visible)
    C = rbm.p_h_given_v(V, beta)                       # (2**nv, nh)
    im = ax_c.imshow(C.T, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    ax_c.set_yticks(np.arange(rbm.n_hidden))
    ax_c.set_yticklabels([f"$h_{{{j}}}$" for j in range(rbm.n_hidden)])
    labels = state_labels(rbm.n_visible)
    step = max(1, math.ceil(len(labels) / 32))
    ax_c.set_xticks(np.arange(0, len(labels), step))
    ax_c.set_xticklabels(labels[::step], rotation=90, fontsize=7, family="monospace")
    ax_c.set_xlabel("visible state $v$")
    return im


def plot_temperature_panels(rbm: RBM, betas: Sequence[float], *, fig=None, shared_ylim: bool = False):
    """What temperature does to a small RBM: one column per ``beta``.

    Top row: the exact visible marginal ``p_beta(v)`` over all ``2**n_visible`` states.
    Bottom row: the conditionals ``p_beta(h_j = 1 | v)`` (colour, 0 to 1) for every
    visible state ``v`` (columns) and hidden unit ``j`` (rows).

    Parameters
    ----------
    rbm : RBM with ``n_visible <= 10``
    betas : sequence of float > 0
    shared_ylim : bool
        Same probability axis in every column.

    Returns
    -------
    fig : matplotlib Figure
    """
    from ._validation import check_beta
    from . import exact
    if not isinstance(rbm, RBM):
        raise TypeError(f"expected an rbmlib.RBM, got {type(rbm).__name__}.")
    if rbm.n_visible > 10:
        raise ValueError(f"plot_temperature_panels enumerates 2**n_visible states; n_visible = {rbm.n_visible} "
                         "> 10 is too many to draw.")
    betas = [check_beta(b) for b in betas]
    if not betas:
        raise ValueError("give at least one beta.")
    plt = _plt()
    if fig is None:
        fig = plt.figure(figsize=(3.2 * len(betas) + 0.8, 4.6), layout="constrained")
    axes = fig.subplots(2, len(betas), squeeze=False, gridspec_kw={"height_ratios": [2.0, 1.0]})
    vmax = None
    if shared_ylim:
        vmax = 1.05 * max(float(exact.marginal_visible(rbm, b).max()) for b in betas)
    im = None
    for k, beta in enumerate(betas):
        im = _temperature_axes_draw(rbm, beta, axes[0, k], axes[1, k], vmax)
        if k:
            axes[0, k].set_ylabel("")
            axes[1, k].set_yticklabels([])
    fig.colorbar(im, ax=axes[1, :].tolist(), label=r"$p_\beta(h_j=1\mid v)$", shrink=0.9)
    return fig


# ----------------------------------------------------------------------------
# figures of the science modules' results
# ----------------------------------------------------------------------------
def _finite_1d(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be a 1-D array of at least 2 finite values, got shape {x.shape}.")
    return x


def plot_work_histograms(work_forward, work_reverse, *, delta_f: float, bins=40, ax=None, title=None):
    """Forward ``P_F(W)`` and reversed ``P_R(-W)`` histograms with ``W = Delta F`` marked.

    Crooks' theorem says the two curves cross at ``W = Delta F``. Returns the axes.
    """
    wf = _finite_1d(work_forward, "work_forward")
    wr = -_finite_1d(work_reverse, "work_reverse")
    if ax is None:
        _, ax = _plt().subplots(figsize=(5, 3.5))
    lo, hi = min(wf.min(), wr.min()), max(wf.max(), wr.max())
    edges = np.linspace(lo, hi, int(bins) + 1) if isinstance(bins, numbers.Integral) else np.asarray(bins)
    ax.hist(wf, edges, density=True, alpha=0.5, color="C0", label=r"$P_F(W)$")
    ax.hist(wr, edges, density=True, alpha=0.5, color="C3", label=r"$P_R(-W)$")
    ax.axvline(delta_f, color="k", lw=1, ls="--", label=r"$\Delta F$")
    ax.set_xlabel(r"work $W$")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_log_ratio(analyses, *, labels=None, axes=None, colors=None, markers=None, theory=True):
    """The XFT figure: ``log P(Q)/P(-Q)`` with error bars and the theory line, residuals below.

    Parameters
    ----------
    analyses : list of dict
        Outputs of :func:`rbmlib.xft.analyse`, drawn in order.
    labels : list of str, optional
    axes : (ax_top, ax_bottom), optional
        Where to draw; by default a new figure with two stacked axes (3:1).
    theory : bool
        Draw each analysis' theory line ``beta_diff * Q``.

    Returns
    -------
    (ax_top, ax_bottom)
    """
    if axes is None:
        fig, axes = _plt().subplots(2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax, axr = axes
    for i, a in enumerate(analyses):
        t = a["table"]
        col = colors[i] if colors else f"C{i}"
        mk = markers[i] if markers else "o"
        lab = labels[i] if labels else None
        ax.errorbar(t["q"], t["y"], yerr=t["sigma"], fmt=mk, ms=3, color=col, lw=0.8, capsize=0, label=lab)
        if theory:
            qq = np.array([min(0.0, t["q"].min()), t["q"].max()])
            ax.plot(qq, a["beta_diff"] * qq, "-", color=col, lw=1, alpha=0.7)
        axr.errorbar(t["q"], (t["y"] - a["beta_diff"] * t["q"]) / t["sigma"], fmt=mk, ms=3, color=col, lw=0)
    axr.axhline(0, color="k", lw=0.8)
    for k in (-3, 3):
        axr.axhline(k, color="k", lw=0.5, ls=":")
    ax.set_ylabel(r"$\log\,P(Q)\,/\,P(-Q)$")
    axr.set_ylabel("residual / error")
    axr.set_xlabel(r"heat $Q = \Delta E$")
    if labels:
        ax.legend(fontsize=8)
    return ax, axr


def plot_learning_runs(runs, *, labels=None, axes=None):
    """Three panels over the updates of exact learning runs (:func:`rbmlib.cd.exact_learning_run`).

    1. ``KL(p_D || p_lambda_t)`` (what maximum likelihood minimises);
    2. the objective ``CD_k(lambda_t)`` of each run's own ``k``;
    3. the cumulative dissipated work ``beta (sum_s<t W_s - (F_eq(t) - F_eq(0)))`` on the
       chains (nats); for CD the chains are reset at every update, so it is the sum
       of the per-update dissipations ``beta (W_t - Delta F_t)``.

    Returns the matplotlib figure.
    """
    from .cd import LearningRun

    runs = list(runs)
    if not runs or not all(isinstance(r, LearningRun) for r in runs):
        raise TypeError("runs must be a non-empty sequence of LearningRun (from exact_learning_run).")
    labels = [f"{r.method.upper()}-{r.k}, eta={r.learning_rate:g}" for r in runs] if labels is None else labels
    if axes is None:
        fig, axes = _plt().subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    else:
        fig = np.ravel(axes)[0].figure
    ax1, ax2, ax3 = np.ravel(axes)[:3]
    for r, lab in zip(runs, labels):
        t = np.arange(r.kl_data.size)
        (line,) = ax1.plot(t, r.kl_data, label=lab)
        ax2.plot(t, r.cd_k, color=line.get_color())
        diss = np.r_[0.0, np.cumsum(r.beta * (r.work - r.delta_F_eq))]
        ax3.plot(t, diss, color=line.get_color())
    ax1.set(xlabel="update t", ylabel=r"$KL(p_D\,\|\,p_{\lambda_t})$ (nats)", yscale="log")
    ax2.set(xlabel="update t", ylabel=r"$CD_k(\lambda_t)$ (nats)", yscale="log")
    ax3.set(xlabel="update t", ylabel=r"$\beta\,(W - \Delta F_{eq})$, cumulative (nats)")
    ax3.set_yscale("symlog", linthresh=1e-3)
    ax1.legend(fontsize=8)
    return fig
