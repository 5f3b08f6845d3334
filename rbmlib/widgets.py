"""The chapters' interactive explorers (ipywidgets sliders that redraw a figure).

Application layer: every explorer runs library code (exact tables, protocols, exact
learning runs) and draws with :mod:`rbmlib.plotting`. Display them only in a live
session (:func:`rbmlib.plotting.interactive`): a widget's representation changes between
runs, which would break ``pytest --nbval``, and a saved notebook keeps no live widget.

* :func:`temperature_explorer` -- ``beta`` slider over :func:`rbmlib.plotting.plot_temperature_panels` (chapter 1);
* :func:`work_explorer` -- protocol length and sweeps per step over the work histograms (chapter 3);
* :func:`learning_explorer` -- CD steps ``k`` and learning rate over exact learning runs (chapter 5);
* :func:`explorer_slider`, :func:`explorer_box` -- their common look.
"""
from __future__ import annotations

import math

from . import cd, exact, thermo
from ._validation import check_beta, check_int
from .model import check_rbm
from .plotting import plot_learning_runs, plot_temperature_panels, plot_work_histograms

__all__ = [
    "temperature_explorer",
    "work_explorer",
    "learning_explorer",
    "explorer_slider",
    "explorer_box",
    "EXPLORER_PLAIN_TEXT",
]

# Shared look of the explorers.
EXPLORER_SLIDER_WIDTH = "680px"      # whole slider row; the track gets ~440 px of it
EXPLORER_DESCRIPTION_WIDTH = "13em"  # the longest description ("inverse temperature β") fits uncut
EXPLORER_PLAIN_TEXT = ("[rbmlib explorer: its sliders exist only while the notebook runs; "
                       "run this cell in JupyterLab (make lab)]")


def explorer_slider(cls, description: str, **kwargs):
    """An ipywidgets slider of the explorers' size: full description, wide track, redraw on release."""
    import ipywidgets as widgets
    kwargs.setdefault("continuous_update", False)
    return cls(description=description, style={"description_width": EXPLORER_DESCRIPTION_WIDTH},
               layout=widgets.Layout(width=EXPLORER_SLIDER_WIDTH, max_width="100%"), **kwargs)


def explorer_box(children):
    """The explorers' outer ``VBox``.

    A notebook saved and reopened keeps no live widget: JupyterLab then shows the output's
    plain-text form (an untrusted notebook) or "Error displaying widget" (a trusted one).
    The plain text of this box says what to do (run the cell) instead of ``VBox(children=...)``.
    """
    import ipywidgets as widgets

    class Explorer(widgets.VBox):
        def __repr__(self):
            return EXPLORER_PLAIN_TEXT

    return Explorer(children)


def temperature_explorer(rbm, *, beta_min: float = 0.05, beta_max: float = 20.0, beta: float = 1.0):
    """ipywidgets explorer: a log-scale ``beta`` slider redrawing :func:`rbmlib.plotting.plot_temperature_panels`.

    The slider moves in steps of 1/100 of a decade (2.3 %) and redraws when released; its
    readout and the figure's title show ``beta`` to 3 significant digits.

    Returns the widget (display it, or let it be the last expression of a cell).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    beta_min, beta_max, beta = (check_beta(x) for x in (beta_min, beta_max, beta))
    if not beta_min < beta_max:
        raise ValueError(f"need beta_min < beta_max, got {beta_min} and {beta_max}.")
    slider = explorer_slider(widgets.FloatLogSlider, "inverse temperature \u03b2",
                             value=min(max(beta, beta_min), beta_max), base=10,
                             min=math.log10(beta_min), max=math.log10(beta_max), step=0.01,
                             readout_format=".3g")
    out = widgets.Output()

    def draw(change=None):
        with out:
            out.clear_output(wait=True)
            fig = plot_temperature_panels(rbm, [slider.value],
                                          fig=plt.figure(figsize=(6.4, 4.6), layout="constrained"))
            for ax in fig.axes:  # the slider's value to 3 significant digits, as its readout shows it
                if ax.get_title().startswith(r"$\beta ="):
                    ax.set_title(rf"$\beta = {slider.value:#.3g}$")
            plt.show()
            plt.close(fig)

    slider.observe(draw, names="value")
    draw()
    return explorer_box([slider, out])


def work_explorer(make_protocol, *, beta: float = 1.0, n_chains: int = 2000, max_steps: int = 100,
                  max_sweeps: int = 10, order: str = "hv", seed: int = 0):
    """ipywidgets explorer: protocol length ``K`` and sweeps per step vs the work histograms.

    Parameters
    ----------
    make_protocol : callable
        ``make_protocol(K) -> rbmlib.thermo.Protocol`` with ``K`` steps and fixed end points.
    beta, n_chains, order, seed :
        Passed to :func:`rbmlib.thermo.run_protocol` (the reverse process uses
        :func:`rbmlib.thermo.reversed_order`).
    max_steps, max_sweeps : int
        Slider ranges.

    Returns the widget.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not callable(make_protocol):
        raise TypeError("make_protocol must be a callable n_steps -> Protocol.")
    beta = check_beta(beta)
    reverse_order = thermo.reversed_order(order)          # also validates order

    def protocol(k):
        p = make_protocol(k)
        if not isinstance(p, thermo.Protocol):
            raise TypeError(f"make_protocol({k}) must return an rbmlib.thermo.Protocol, got {type(p).__name__}.")
        return p

    delta_f = thermo.free_energy_difference(protocol(1), beta)
    k_slider = explorer_slider(widgets.IntSlider, "protocol steps K", value=min(10, max_steps), min=1,
                               max=max_steps)
    s_slider = explorer_slider(widgets.IntSlider, "sweeps per step", value=1, min=1, max=max_sweeps)
    out = widgets.Output()

    def draw(change=None):
        k, s = k_slider.value, s_slider.value
        prot = protocol(k)
        fw = thermo.run_protocol(prot, n_chains, beta=beta, seed=seed, order=order, n_sweeps_per_step=s)
        rv = thermo.run_protocol(prot.reversed(), n_chains, beta=beta, seed=seed + 1, order=reverse_order,
                                 n_sweeps_per_step=s)
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.8))
            est = thermo.jarzynski(fw.work, beta)
            plot_work_histograms(fw.work, rv.work, delta_f=delta_f, ax=ax,
                                 title=(f"$K = {k}$, {s} sweep{'s' if s > 1 else ''} per step:  "
                                        rf"$\langle W\rangle - \Delta F = {fw.work.mean() - delta_f:.2f}$,  "
                                        rf"Jarzynski $\widehat{{\Delta F}} - \Delta F = {est.delta_f - delta_f:+.2f}$"))
            ax.title.set_fontsize(10)
            plt.show()
            plt.close(fig)

    k_slider.observe(draw, names="value")
    s_slider.observe(draw, names="value")
    draw()
    return explorer_box([widgets.VBox([k_slider, s_slider]), out])


def learning_explorer(rbm, data, *, n_steps: int = 300, beta: float = 1.0):
    """ipywidgets explorer of exact CD-k / PCD-k learning on a tiny model: sliders for ``k`` and the learning rate.

    Redraws :func:`rbmlib.plotting.plot_learning_runs` for CD-k, PCD-k and maximum likelihood
    (:func:`rbmlib.cd.exact_learning_run`) at the chosen learning rate. Returns the widget.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    check_rbm(rbm)
    if rbm.n_visible > cd.MAX_VISIBLE_TABLE:
        raise exact.EnumerationTooLarge(
            f"learning_explorer tabulates all 2**{rbm.n_visible} visible states (limit n_visible <= "
            f"{cd.MAX_VISIBLE_TABLE}); use a tiny model.")
    n_steps = check_int(n_steps, "n_steps", 1)
    k_slider = explorer_slider(widgets.IntSlider, "Gibbs sweeps k", value=1, min=1, max=20)
    lr_slider = explorer_slider(widgets.FloatLogSlider, "learning rate \u03b7", value=0.3, base=10, min=-2,
                                max=0.5, step=0.025, readout_format=".3g")
    out = widgets.Output()

    def draw(change=None):
        with out:
            out.clear_output(wait=True)
            runs = []
            for method in ("cd", "pcd", "ml"):
                try:
                    runs.append(cd.exact_learning_run(rbm, data, method=method, k=k_slider.value,
                                                      learning_rate=lr_slider.value, n_steps=n_steps, beta=beta))
                except FloatingPointError as exc:
                    print(f"{method}: {exc}")
            if runs:  # legend with the learning rate as the slider shows it (3 significant digits)
                fig = plot_learning_runs(runs, labels=[f"{r.method.upper()}-{r.k}, \u03b7 = {r.learning_rate:#.3g}"
                                                       for r in runs])
                plt.show()
                plt.close(fig)

    k_slider.observe(draw, names="value")
    lr_slider.observe(draw, names="value")
    draw()
    return explorer_box([widgets.VBox([k_slider, lr_slider]), out])
