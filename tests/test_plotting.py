"""rbmlib.plotting: what the figures draw, the text helpers' rounding, the interactive() switch, bad input."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rbmlib  # noqa: E402
from rbmlib import exact, plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rbm():
    return rbmlib.RBM.random(3, 2, scale=1.0, seed=7)


# --------------------------------------------------------------------- text
def test_state_labels_follow_exact_states_order():
    labels = plotting.state_labels(3)
    S = exact.states(3)
    assert labels == ["".join(str(int(x)) for x in row) for row in S]
    assert plotting.state_labels(0) == [""]
    with pytest.raises(ValueError, match="n_units"):
        plotting.state_labels(17)


@pytest.mark.parametrize("x, expected", [
    (0.0, "< 1e-12"), (3e-17, "< 1e-12"), (9.99e-13, "< 1e-12"),
    (1e-12, "1.0e-12"), (0.0012345, "1.2e-03"), (0.0126, "1.3e-02"), (0.5, "5.0e-01"),
])
def test_format_violation_bins_noise_and_rounds(x, expected):
    assert plotting.format_violation(x) == expected


def test_format_violation_options_and_errors():
    assert plotting.format_violation(2e-16, noise=1e-15) == "< 1e-15"
    assert plotting.format_violation(0.012345, digits=3) == "1.23e-02"
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite value >= 0"):
            plotting.format_violation(bad)
    with pytest.raises(ValueError, match="noise"):
        plotting.format_violation(1.0, noise=0.0)


def test_markdown_table_layout_and_escaping():
    text = plotting.markdown_table([["a|b", 1], ["c", 2.5]], ["name", "value"], align="lr")
    lines = text.splitlines()
    assert lines[0] == "| name | value |"
    assert lines[1] == "| :--- | ---: |"
    assert lines[2] == "| a\\|b | 1 |"
    assert lines[3] == "| c | 2.5 |"
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        plotting.markdown_table([["x"]], ["a", "b"])
    with pytest.raises(ValueError, match="align"):
        plotting.markdown_table([["x"]], ["a"], align="x")
    with pytest.raises(ValueError, match="header"):
        plotting.markdown_table([], [])


# --------------------------------------------------------------- interactive
def test_interactive_is_false_outside_a_kernel(monkeypatch):
    monkeypatch.delenv("RBMLIB_INTERACTIVE", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "x.ipynb")  # no kernel here: still False
    assert plotting.interactive() is False


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("no", False)])
def test_interactive_env_override(monkeypatch, value, expected):
    monkeypatch.setenv("RBMLIB_INTERACTIVE", value)
    assert plotting.interactive() is expected


# ------------------------------------------------------------------ figures
def test_distribution_bars_draw_the_given_heights(rbm):
    p = exact.marginal_visible(rbm)
    q = exact.marginal_visible(rbm, 2.0)
    ax = plotting.plot_distribution_bars({"beta=1": p, "beta=2": q}, errors={"beta=2": np.full(8, 0.01)})
    heights = np.array([bar.get_height() for bar in ax.patches])
    np.testing.assert_allclose(heights, np.concatenate([p, q]))
    assert [t.get_text() for t in ax.get_xticklabels()] == plotting.state_labels(3)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["beta=1", "beta=2"]
    # error bars only for the distribution that has errors
    from matplotlib.container import ErrorbarContainer
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 1


def test_distribution_bars_single_array_and_custom_labels():
    ax = plotting.plot_distribution_bars([0.2, 0.3, 0.5], labels=["a", "b", "c"], log=True, title="t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    assert ax.get_legend() is None


def test_distribution_bars_errors():
    with pytest.raises(ValueError, match="same number of states"):
        plotting.plot_distribution_bars({"a": [0.5, 0.5], "b": [1.0]})
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_distribution_bars([0.5, 0.5], labels=["x"])
    with pytest.raises(ValueError, match="errors"):
        plotting.plot_distribution_bars({"a": [0.5, 0.5]}, errors={"b": [0.1, 0.1]})
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_distribution_bars([])


def test_plot_digits_grid_and_images():
    rng = np.random.default_rng(0)
    imgs = rng.random((7, 784))
    fig = plotting.plot_digits(imgs, n_cols=3, titles=[str(i) for i in range(7)])
    axes = fig.axes
    assert len(axes) == 9  # 3 x 3 grid, the last two empty
    shown = [ax.images[0].get_array() for ax in axes if ax.images]
    assert len(shown) == 7
    np.testing.assert_array_equal(np.asarray(shown[4]), imgs[4].reshape(28, 28))
    # (n, h, w) input and other shapes
    fig2 = plotting.plot_digits(rng.random((2, 5, 4)), shape=(5, 4))
    assert sum(bool(ax.images) for ax in fig2.axes) == 2
    with pytest.raises(ValueError, match="shape"):
        plotting.plot_digits(rng.random((2, 10)))
    with pytest.raises(ValueError, match="titles"):
        plotting.plot_digits(imgs, titles=["a"])


def test_plot_bipartite_edges_and_nodes(rbm):
    ax = plotting.plot_bipartite(rbm)
    assert len(ax.lines) == rbm.n_visible * rbm.n_hidden
    offsets = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(offsets) == rbm.n_visible + rbm.n_hidden
    # strongest coupling has the widest edge
    widths = np.array([ln.get_linewidth() for ln in ax.lines])
    assert np.argmax(widths) == np.argmax(np.abs(np.asarray(rbm.W)).ravel())
    with pytest.raises(TypeError):
        plotting.plot_bipartite(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="small models"):
        plotting.plot_bipartite(rbmlib.RBM.random(50, 2))


def test_plot_heatmap_symmetric_scale():
    M = np.array([[0.0, -2.0], [1.0, 0.5]])
    ax = plotting.plot_heatmap(M, symmetric=True, xticklabels=["a", "b"], yticklabels=["c", "d"], title="m")
    im = ax.images[0]
    assert im.get_clim() == (-2.0, 2.0)
    np.testing.assert_array_equal(im.get_array(), M)
    with pytest.raises(ValueError, match="2-D"):
        plotting.plot_heatmap(np.zeros(3))


def test_temperature_panels_show_exact_marginals_and_conditionals(rbm):
    betas = [0.5, 1.0, 4.0]
    fig = plotting.plot_temperature_panels(rbm, betas)
    top = [ax for ax in fig.axes if ax.patches]
    assert len(top) == len(betas)
    for ax, beta in zip(top, betas):
        np.testing.assert_allclose([p.get_height() for p in ax.patches], exact.marginal_visible(rbm, beta))
    heat = [ax for ax in fig.axes if ax.images]
    for ax, beta in zip(heat, betas):
        np.testing.assert_allclose(ax.images[0].get_array(), rbm.p_h_given_v(exact.states(3), beta).T)
    with pytest.raises(ValueError, match="beta"):
        plotting.plot_temperature_panels(rbm, [1.0, -1.0])
    with pytest.raises(ValueError, match="too many"):
        plotting.plot_temperature_panels(rbmlib.RBM.random(11, 2), [1.0])


def test_temperature_explorer_builds_a_widget(rbm):
    ipywidgets = pytest.importorskip("ipywidgets")
    from rbmlib import widgets
    w = widgets.temperature_explorer(rbm, beta_min=0.1, beta_max=10.0, beta=2.0)
    assert isinstance(w, ipywidgets.VBox)
    slider = w.children[0]
    assert slider.value == pytest.approx(2.0)
    slider.value = 0.5  # redraws without error
    with pytest.raises(ValueError, match="beta_min < beta_max"):
        widgets.temperature_explorer(rbm, beta_min=2.0, beta_max=1.0)
