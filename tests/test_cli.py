"""The command line: sub-commands, registration, one-line errors, atomic outputs."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import rbmlib
from rbmlib import cli
from rbmlib import datasets as ds

REPO = Path(__file__).resolve().parents[1]
SMALL = ["train", "--preset", "mnist-784x20", "--hidden", "4", "--epochs", "1", "--no-progress"]


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern):
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rbmlib: error: "), err
    assert "Traceback" not in err
    assert pattern in lines[0], lines[0]


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("train", "data", "models"):
        assert cmd in out
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    for opt in ("--dataset", "--hidden", "--method", "-k", "--epochs", "--lr", "--seed", "--out", "--checkpoint",
                "--resume"):
        assert opt in out
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2


def test_python_dash_m_and_console_script(tmp_path):
    env = dict(os.environ, RBMLIB_DATA_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "rbmlib", "data", "path"], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == str(tmp_path / "mnist")
    script = Path(sys.executable).parent / "rbmlib"
    if script.exists():
        r = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env)
        assert r.returncode == 0 and rbmlib.__version__ in r.stdout


def test_train_saves_model_with_provenance(tmp_path, capsys):
    out = tmp_path / "m.npz"
    code, stdout, err = run(capsys, *SMALL, "--seed", "3", "--out", str(out))
    assert code == 0, err
    assert "saved" in stdout
    rbm = rbmlib.RBM.load(out)
    assert (rbm.n_visible, rbm.n_hidden) == (784, 4) and rbm.dtype == np.float32
    meta = rbm.metadata
    assert meta["recipe"]["n_hidden"] == 4 and meta["recipe"]["epochs"] == 1 and meta["recipe"]["seed"] == 3
    assert "epochs" in meta["recipe_name"] and "mnist-784x20" in meta["recipe_name"]
    assert meta["data"]["n"] == 8000 and meta["data"]["sha256"] == ds.embedded_info()["train_sha256"]
    assert meta["training"]["seed"] == 3 and "machine" in meta["training"]
    assert "--out" in meta["command"]
    # refuses to overwrite ...
    code, _, err = run(capsys, *SMALL, "--out", str(out))
    assert_one_line_error(code, err, "--force")
    # ... unless asked; same arguments -> same model
    code, _, err = run(capsys, *SMALL, "--seed", "3", "--out", str(out), "--force")
    assert code == 0 and rbmlib.RBM.load(out) == rbm


def test_train_checkpoint_resume(tmp_path, capsys):
    ck = tmp_path / "run.ckpt.npz"
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run(capsys, *SMALL, "--out", str(a), "--checkpoint", str(ck))[0] == 0
    assert ck.exists()
    code, _, err = run(capsys, *SMALL, "--out", str(b), "--checkpoint", str(ck))
    assert_one_line_error(code, err, "resume")
    code, _, err = run(capsys, *SMALL, "--lr", "0.3", "--out", str(b), "--checkpoint", str(ck), "--resume")
    assert_one_line_error(code, err, "different run")
    assert run(capsys, *SMALL, "--out", str(b), "--checkpoint", str(ck), "--resume")[0] == 0
    assert rbmlib.RBM.load(a) == rbmlib.RBM.load(b)
    code, _, err = run(capsys, *SMALL, "--out", str(tmp_path / "c.npz"), "--resume")
    assert_one_line_error(code, err, "--checkpoint")


@pytest.mark.parametrize("argv, pattern", [
    (["--out", "model.txt"], ".npz"),
    (["--lr", "-1", "--out", "x.npz"], "learning_rate"),
    (["--epochs", "0", "--out", "x.npz"], "epochs"),
    (["--batch-size", "0", "--out", "x.npz"], "batch_size"),
])
def test_train_user_errors(tmp_path, capsys, monkeypatch, argv, pattern):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *SMALL, *argv)
    assert_one_line_error(code, err, pattern)
    assert not list(tmp_path.iterdir())


def test_interrupted_save_leaves_no_file(tmp_path, capsys, monkeypatch):
    out = tmp_path / "m.npz"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(rbmlib.model.np, "savez", boom)
    code, _, err = run(capsys, *SMALL, "--out", str(out))
    assert code == 130 and "interrupted" in err
    assert not list(tmp_path.iterdir())  # neither the model nor a temporary file


def test_data_commands_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(ds.DATA_DIR_ENV, str(tmp_path))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setattr(ds, "MNIST_MIRRORS", [f"http://127.0.0.1:{port}/"])
    code, out, _ = run(capsys, "data", "path")
    assert code == 0 and out.strip() == str(tmp_path / "mnist")
    code, out, err = run(capsys, "data", "verify")
    assert code == 1 and out.count("missing") == 4 and "rbmlib data fetch" in err
    code, _, err = run(capsys, "data", "fetch", "--no-progress")
    assert_one_line_error(code, err, "Could not download")
    assert str(tmp_path / "mnist") in err
    code, _, err = run(capsys, "train", "--dataset", "mnist-full", "--out", str(tmp_path / "m.npz"),
                       "--no-progress")
    assert_one_line_error(code, err, "no network")
    code, out, _ = run(capsys, "data", "info")
    assert code == 0 and json.loads(out)["license"] == "CC BY-SA 3.0"


def test_models_commands(tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert run(capsys, *SMALL, "--out", str(out))[0] == 0
    code, stdout, _ = run(capsys, "models", "list")
    assert code == 0 and "mnist-784x500" in stdout and "mnist-784x20" in stdout
    code, stdout, _ = run(capsys, "models", "show", str(out))
    assert code == 0 and json.loads(stdout)["shape"] == [784, 4]
    code, stdout, _ = run(capsys, "models", "evaluate", str(out))
    res = json.loads(stdout)
    assert code == 0 and res["log_z_method"] == "exact enumeration" and res["log_likelihood"] < 0
    png = tmp_path / "s.png"
    code, stdout, _ = run(capsys, "models", "samples", str(out), "--out", str(png), "-n", "4", "--sweeps", "3")
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run(capsys, "models", "show", str(tmp_path / "nope.npz"))
    assert_one_line_error(code, err, "No model file")


def test_registration_of_other_modules(capsys, monkeypatch):
    mod = types.ModuleType("rbmlib_fake_cli_module")

    def add_cli(sub):
        p = sub.add_parser("hello", help="say hello")
        p.add_argument("--name", default="world")
        p.set_defaults(func=lambda a: print(f"hello {a.name}") or 3)

    mod.add_cli = add_cli
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", cli.SUBCOMMAND_MODULES + [mod.__name__])
    code, out, _ = run(capsys, "hello", "--name", "rbm")
    assert code == 3 and out.strip() == "hello rbm"


def test_traceback_flag_reraises(tmp_path, capsys):
    with pytest.raises(ValueError, match="epochs"):
        cli.main(["--traceback", *SMALL, "--epochs", "0", "--out", str(tmp_path / "x.npz")])


# ----------------------------------------------------------------------------- reference models
@pytest.fixture
def tiny_references(tmp_path, monkeypatch):
    from rbmlib import reference_models as models

    recipe = dict(models.RECIPES["mnist-784x20"], n_hidden=3, epochs=1)
    monkeypatch.setattr(models, "RECIPES", {"tiny-784x3": recipe})
    monkeypatch.setattr(models, "reference_path", lambda name: tmp_path / "pkg" / f"{name}.npz")
    monkeypatch.setenv(ds.DATA_DIR_ENV, str(tmp_path / "cache"))
    return models, recipe, tmp_path


def test_load_reference_trains_caches_and_checks_recipe(tiny_references, capsys):
    models, recipe, tmp_path = tiny_references
    with pytest.raises(FileNotFoundError, match="rbmlib models train tiny-784x3"):
        models.load_reference("tiny-784x3", train_if_missing=False)
    rbm = models.load_reference("tiny-784x3", progress=False)  # trains (seconds) and caches
    cached = tmp_path / "cache" / "models" / "tiny-784x3.npz"
    assert cached.exists() and "training it from its recipe" in capsys.readouterr().err
    assert rbm.metadata["recipe"] == recipe and rbm.metadata["reference"] == "tiny-784x3"
    assert rbm.metadata["evaluation"]["log_z_method"] == "exact enumeration"
    assert models.load_reference("tiny-784x3", train_if_missing=False) == rbm
    # the same recipe trained again gives the same parameters (deterministic training)
    assert models.train_recipe(recipe, progress=False) == rbm
    # a file trained with another recipe is refused
    models.RECIPES["tiny-784x3"] = dict(recipe, seed=1)
    with pytest.raises(ValueError, match="different recipe"):
        models.load_reference("tiny-784x3")
    with pytest.raises(ValueError, match="Unknown reference model"):
        models.load_reference("mnist-784x7")


@pytest.mark.parametrize("name", ["mnist-784x20", "mnist-784x500"])
def test_committed_reference_models(name):
    from rbmlib import reference_models as models

    path = models.reference_path(name)
    assert path.exists(), f"{path} is not committed"
    assert path.stat().st_size < 2_000_000
    rbm = models.load_reference(name, train_if_missing=False)
    assert rbm.n_visible == 784 and rbm.n_hidden == models.RECIPES[name]["n_hidden"]
    meta = rbm.metadata
    assert meta["data"]["sha256"] == ds.embedded_info()["train_sha256"]
    for key in ("seed", "learning_rate", "training_seconds", "code", "machine", "data_sha256"):
        assert key in meta["training"]
    ev = meta["evaluation"]
    assert ev["data"] == "embedded/heldout" and 0 < ev["mean_hidden_activity"] < 1
    X = rbmlib.load_mnist(split="heldout")
    assert abs(float(rbm.astype(np.float64).p_h_given_v(X).mean()) - ev["mean_hidden_activity"]) < 1e-4


def test_reference_784x20_recorded_log_likelihood_is_exact():
    from rbmlib import exact, reference_models as models

    rbm = models.load_reference("mnist-784x20", train_if_missing=False).astype(np.float64)
    X = rbmlib.load_mnist(split="heldout")
    ll = float(exact.log_likelihood(rbm, X).mean())
    assert abs(ll - rbm.metadata["evaluation"]["log_likelihood"]) <= 0.0005  # recorded to 3 decimals
