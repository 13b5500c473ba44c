"""A user's out-of-range choices are errors that say what exists, never tracebacks: every CLI command with
bad indices, names, sizes, seeds, patterns and paths; a brainio time bin that does not exist (and the kept bin
recorded on the imported data); stimuli that preprocess to several sizes; the checks behind them."""

import json
import re
import sqlite3

import numpy as np
import pytest
import torch
from helpers.brainio_layout import write_brainio_file
from click.testing import CliRunner
from PIL import Image
from torch import nn

import brainbench
from brainbench.checks import MAX_SEED, check_count, check_level, check_positive_numbers, check_seed
from brainbench.cli.commands import main
from brainbench.errors import ConfigError, MemoryBudgetError, UnknownNameError
from brainbench.registry.user_datasets import import_assembly, imported_dir
from brainbench.data.netcdf import as_neural_assembly, read_assembly, write_stimulus_set
from brainbench.testing import tiny_stimulus_set

BINS = [(70, 170), (170, 270)]
N_STIMULI = 8


def to_tensor(img):
    """No resize: a fully convolutional network sees each image at its own size."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1).contiguous()


def fcn():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return brainbench.wrap(net, to_tensor, name="fcn")


FACTORIES = '''
import brainbench, numpy as np, torch
from torch import nn

def to_tensor(img):
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1).contiguous()

def make():
    torch.manual_seed(0)
    return brainbench.wrap(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), to_tensor, name="fcn")

def boom(weights=None):
    raise ValueError("no such checkpoint")
'''


def save(folder, sizes):
    folder.mkdir()
    for name, (h, w) in sizes.items():
        Image.fromarray(np.full((h, w, 3), 10 * len(name), dtype=np.uint8)).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small inputs of every kind the commands read: images, a brainio assembly with 2 time bins, a model module."""
    root = tmp_path_factory.mktemp("inputs")
    save(root / "imgs", {f"img{i}": (20, 20) for i in range(4)})
    save(root / "mixed", {"a0": (20, 20), "a1": (20, 20), "a2": (20, 20), "big": (24, 30)})
    (root / "empty").mkdir()
    stimuli = tiny_stimulus_set(n=N_STIMULI)
    write_stimulus_set(stimuli, root / "s.csv", root / "s.zip")
    values = np.stack([np.full((N_STIMULI, 2), b, dtype=float) for b in range(len(BINS))], axis=2)  # bin b holds b
    values += np.random.default_rng(0).normal(size=(N_STIMULI, 2))[:, :, None]
    write_brainio_file(root / "a.nc", values, {"stimulus_id": stimuli.ids},
                       {"neuroid_id": ["n0", "n1"], "region": ["IT", "IT"], "animal": ["m", "m"]}, time_bins=BINS)
    np.save(root / "r.npy", np.zeros((4, 2)))
    (root / "bb_factories.py").write_text(FACTORIES)
    (root / "bb_broken.py").write_text("raise RuntimeError('half-written module')\n")
    newer = sqlite3.connect(root / "newer.sqlite")  # a results store stamped by a later brainbench's migrations
    newer.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    newer.execute("INSERT INTO alembic_version VALUES ('0999')")
    newer.commit()
    newer.close()
    return root, values


G, B = "synthetic_generator", "synthetic.early"
ASSEMBLY = ["data", "import", "assembly", "{root}/a.nc", "--stimuli", "{root}/s.csv", "--images", "{root}/s.zip"]
# (arguments, what the one-line error must say: what was wrong and what exists); {root} is the inputs folder
CASES = {
    "list-pattern": (["list", "models", "nosuch*"], "no model name matches 'nosuch*' ("),
    "list-where-value": (["list", "models", "--where", "source=nosuch"], "its values: brainbench, "),
    "list-where-field": (["list", "benchmarks", "--where", "regoin=IT"], "Did you mean 'region'"),
    "list-where-malformed": (["list", "models", "--where", "source"], "expected key=value"),
    "score-model": (["score", "-m", "resnet19", "-b", B], "Did you mean 'resnet18'"),
    "score-benchmark": (["score", "-m", G, "-b", "synthetic.erly"], "Did you mean 'synthetic.early'"),
    "score-benchmark-pattern": (["score", "-m", G, "-b", "nosuch.*"], "benchmarks are registered"),
    "score-metric": (["score", "-m", G, "-b", B, "--metric", "ridj"], "Did you mean 'ridge'"),
    "score-weights": (["score", "-m", G, "-b", B, "--weights", "imagenet"], "Known: 'fixed', 'random'"),
    "score-seed-negative": (["score", "-m", G, "-b", B, "--seed", "-1"], f"from 0 to {MAX_SEED}"),
    "score-seed-huge": (["score", "-m", G, "-b", B, "--seed", str(2**70)], f"from 0 to {MAX_SEED}"),
    "score-layer": (["score", "-m", G, "-b", B, "--layers", "block9"], "Known: 'block1', 'block1.0'"),
    "score-layer-empty": (["score", "-m", G, "-b", B, "--layers", "block1,,block2"], "doubled comma"),
    "score-layer-combination": (["score", "-m", G, "-b", B, "--layers", "block1+"], "a layer on each side"),
    "score-depth": (["score", "-m", G, "-b", B, "--layers", "depth:0.8-0.2"], "0 <= LO <= HI <= 1"),
    "score-device": (["score", "-m", G, "-b", B, "--device", "tpu"], "use cpu, cuda, cuda:N, mps or auto"),
    "score-device-index": (["score", "-m", G, "-b", B, "--device", "cuda:99"], r"\(it has cpu\)|cuda:0 to cuda:"),
    "score-device-cpu-index": (["score", "-m", G, "-b", B, "--device", "cpu:3"], "use cpu, cuda, cuda:N, mps"),
    "score-batch-size": (["score", "-m", G, "-b", B, "--batch-size", "0"], "batch size must be a whole number >= 1"),
    "score-batch-size-negative": (["score", "-m", G, "-b", B, "--batch-size", "-3"], ">= 1; got -3"),
    "score-reduce": (["score", "-m", G, "-b", B, "--reduce", "srp:0"], "write srp:K or pca:K"),
    "score-reduce-fit": (["score", "-m", G, "-b", B, "--reduce", "pca:5/0"], "fits PCA on 0 stimuli"),
    "score-memory-limit": (["score", "-m", G, "-b", B, "--memory-limit", "-1GB"], "write e.g. 4GB"),
    "score-bootstrap": (["score", "-m", G, "-b", B, "--bootstrap", "1"], ">= 2; got 1 (0 for no interval"),
    "score-level": (["score", "-m", G, "-b", B, "--level", "95"], "strictly between 0 and 1"),
    "score-plot-folder": (["score", "-m", G, "-b", B, "--plot", "{root}/nowhere/x.png"], "nowhere does not exist"),
    "score-plot-format": (["score", "-m", G, "-b", B, "--plot", "{root}/x.docx"],
                          r"\.docx is not a format .* one of .*\.png"),
    "score-db": (["score", "-m", G, "-b", B, "--db", "nosuchdb://x"], "set BRAINBENCH_DB to a SQLAlchemy URL"),
    "score-factory-module": (["score", "-m", "bb_nosuch:make", "-b", B], "no such module in the current folder"),
    "score-factory-name": (["score", "-m", "bb_factories:mkae", "-b", B], "Did you mean 'make'"),
    "score-factory-import": (["score", "-m", "bb_broken:make", "-b", B], "failed to import: RuntimeError"),
    "score-factory-raises": (["score", "-m", "bb_factories:boom", "-b", B], "raised ValueError: no such checkpoint"),
    "score-factory-weights": (["score", "-m", "bb_factories:make", "-b", B, "--weights", "v2"], "takes no weights"),
    "compare-model": (["compare", G, "resnet19", "-b", B], "Did you mean 'resnet18'"),
    "compare-bootstrap": (["compare", G, G, "-b", B, "--bootstrap", "1"], ">= 2; got 1"),
    "compare-permutations": (["compare", G, G, "-b", B, "--permutations", "0"], "must be a whole number >= 1; got 0"),
    "compare-level": (["compare", G, G, "-b", B, "--level", "1"], "strictly between 0 and 1"),
    "results-id": (["results", "--id", "999"], "list them with `brainbench results`"),
    "results-model": (["results", "-m", "nosuch*"], "holds no results yet"),
    "results-db": (["results", "--db", "nosuchdb://"], "SQLAlchemy URL"),
    "results-db-newer": (["results", "--db", "sqlite:///{root}/newer.sqlite"],
                         r"written by a newer brainbench \(schema revision '0999'.*upgrade brainbench"),
    "results-db-unreachable": (["results", "--db", "postgresql://bb:secret@127.0.0.1:1/results"],
                               r"postgresql://bb:\*\*\*@127.0.0.1:1/results: the database server cannot be reached"),
    "leaderboard-name": (["leaderboard", "synthetc"], "Known: 'brain', 'cowley2023', 'rdm', 'synthetic'"),
    "regenerate-name": (["leaderboard", "regenerate", "synthetc"], "Known: 'brain', 'cowley2023', 'rdm', 'synthetic'"),
    "regenerate-workers": (["leaderboard", "regenerate", "synthetic", "--workers", "0"], "at least 1; got 0"),
    "regenerate-scheduler": (["leaderboard", "regenerate", "synthetic", "--scheduler", "tcp://127.0.0.1:9", "--timeout",
                              "1"], "'tcp://127.0.0.1:9' did not answer within 1 s"),
    "leaderboard-plot": (["leaderboard", "--plot", "{root}/nowhere/b.png"], "nowhere does not exist"),
    "leaderboard-output": (["leaderboard", "synthetic", "--format", "html", "-o", "{root}/nowhere/b.html"],
                           "nowhere does not exist"),
    "leaderboard-output-folder": (["leaderboard", "synthetic", "-o", "{root}"], "is a folder; give a file name"),
    "plot-depth-format": (["plot", "depth", "-m", G, "-b", B, "-o", "{root}/d.pdf"], r"\.pdf is not a format .*\.png"),
    "plot-depth-none": (["plot", "depth", "-m", "nosuch", "-b", B, "-o", "{root}/d.png"],
                        "no stored results of models nosuch"),
    "plot-board-name": (["plot", "board", "synthetc", "-o", "{root}/b.png"], "Known: 'brain', 'cowley2023', 'rdm', 'synthetic'"),
    "plot-board-empty": (["plot", "board", "synthetic", "-o", "{root}/b.png"], "has no stored results to plot yet"),
    "plot-board-column": (["plot", "board", "synthetic", "--column", "nope", "-o", "{root}/b.png"],
                          "'nope' is neither a node (average) nor a benchmark (none stored)"),
    "plot-scatter-model": (["plot", "scatter", "synthetic", "a", "b", "-o", "{root}/s.svg"],
                           "model 'a' has no cell on leaderboard 'synthetic'; its models: none stored"),
    "plot-db": (["plot", "board", "synthetic", "--db", "nosuchdb://", "-o", "{root}/b.png"], "SQLAlchemy URL"),
    "layers-model": (["layers", "resnet19"], "Did you mean 'resnet18'"),
    "layers-weights": (["layers", G, "--weights", "imagenet"], "Known: 'fixed', 'random'"),
    "layers-depth-format": (["layers", G, "--layers", "depth:x"], "is not depth:LO-HI"),
    "extract-dataset": (["extract", "-m", G, "-d", "synthetc", "--dry-run"], "Did you mean 'synthetic'"),
    "extract-no-images": (["extract", "-m", G, "-s", "{root}/empty", "--dry-run"], "no images (.bmp"),
    "extract-layer": (["extract", "-m", G, "-s", "{root}/imgs", "--layers", "head.9", "--dry-run"], "'head.1'"),
    "extract-batch-size": (["extract", "-m", G, "-s", "{root}/imgs", "--batch-size", "-2"], ">= 1; got -2"),
    "extract-seed": (["extract", "-m", G, "-s", "{root}/imgs", "--seed", "-1"], f"from 0 to {MAX_SEED}"),
    "extract-output-file": (["extract", "-m", G, "-s", "{root}/imgs", "-o", "{root}/r.npy"], "is a file; give a"),
    "extract-image-sizes": (["extract", "-m", "bb_factories:make", "-s", "{root}/mixed", "--no-cache"],
                            "2 input sizes: 3x20x20 (3 stimuli: 'a0', 'a1', 'a2'), 3x24x30 (1 stimulus: 'big')"),
    "extract-pca-stimuli": (["extract", "-m", G, "-s", "{root}/imgs", "--layers", "block1", "--reduce", "pca:10",
                             "--no-cache"], "needs at least 10 stimuli to fit on, but has 4"),
    "data-fetch-dataset": (["data", "fetch", "nsdd"], "Did you mean 'nsd'"),
    "data-fetch-subjects": (["data", "fetch", "nsd", "--subjects", "one"], "comma-separated whole numbers"),
    "data-fetch-options": (["data", "fetch", "cowley2023", "--subjects", "1"], "takes no fetch options"),
    "data-fetch-nsd-subject-before-terms": (["data", "fetch", "nsd", "--subjects", "9"], "NSD has subjects 1-8; got [9]"),
    "data-fetch-nsd-session-before-terms": (["data", "fetch", "nsd", "--subjects", "4", "--sessions", "31"],
                                            "NSD subject 4 has sessions 1-30; got [31]"),
    "data-verify": (["data", "verify", "nosuch"], "datasets are registered"),
    "data-path": (["data", "path", "nsdd"], "Did you mean 'nsd'"),
    "data-rm": (["data", "rm", "nosuch", "-y"], "datasets are registered"),
    "import-time-bin": ([*ASSEMBLY, "--name", "tb", "--time-bin", "2"],
                        "time bin 2 does not exist; the assembly has 2 (start 70 ms, 170 ms)"),
    "import-time-bin-negative": ([*ASSEMBLY, "--name", "tb", "--time-bin", "-3"],
                                 "time bin -3 does not exist; the assembly has 2 (start 70 ms, 170 ms)"),
    "import-time-bin-missing": ([*ASSEMBLY, "--name", "tb"],
                                r"has 2 time bins \(starts \[70, 170\]\); pick one with time_bin \(--time-bin\) from 0 to 1"),
    "import-assembly-name": ([*ASSEMBLY, "--name", "my data", "--time-bin", "0"], "letters, digits, '_' and '-'"),
    "import-folder-empty": (["data", "import", "folder", "{root}/empty", "{root}/r.npy", "--name", "x", "--region",
                             "V1"], "holds no images (.png"),
    "import-folder-rows": (["data", "import", "folder", "{root}/mixed", "{root}/r.npy", "--name", "x", "--region",
                            "V1.2"], "region names ['V1.2']"),
    "import-nsd-subjects": (["data", "import", "nsd", "--root", "{root}/empty", "--subjects", "9"], "has subjects 1-8"),
    "import-nsd-sessions": (["data", "import", "nsd", "--root", "{root}/empty", "--subjects", "4", "--sessions", "31"],
                            "NSD subject 4 has sessions 1-30; got [31]"),
    "import-nsd-regions": (["data", "import", "nsd", "--root", "{root}/empty", "--regions", "V9"],
                           "the regions are V1, V2, V3, V4, EVC"),
}


@pytest.mark.parametrize(("args", "expected"), list(CASES.values()), ids=list(CASES))
def test_out_of_range_choices_are_one_line_errors(files, tmp_path, monkeypatch, args, expected):
    root, _ = files
    monkeypatch.setenv("BRAINBENCH_DB", f"sqlite:///{tmp_path / 'results.sqlite'}")
    monkeypatch.chdir(root)  # module:factory models are found in the current folder
    result = CliRunner().invoke(main, [a.format(root=root) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2) and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.output.rstrip().endswith(errors[0]), result.output  # the last line, one line
    assert re.search(expected if "\\" in expected else re.escape(expected), errors[0]), errors[0]
    assert not imported_dir("tb").exists()  # a refused import leaves nothing


def test_the_kept_time_bin_is_imported_and_recorded(files):
    root, values = files
    imported = import_assembly(root / "a.nc", name="bin_late", stimuli_csv=root / "s.csv", stimuli_zip=root / "s.zip",
                               time_bin=-1)
    manifest = json.loads((imported / "dataset.json").read_text())
    assert (manifest["time_bin_start"], manifest["time_bin_end"]) == (170, 270)
    on_disk = read_assembly(imported / "assembly.nc")  # netCDF keeps the bin as attrs
    assert (on_disk.attrs["time_bin_start"], on_disk.attrs["time_bin_end"]) == (170, 270)
    assembly = brainbench.get_dataset("bin_late").assembly()
    assert (assembly.attrs["time_bin_start"], assembly.attrs["time_bin_end"]) == (170, 270)
    np.testing.assert_array_equal(assembly.values, values[:, :, 1])  # the last bin's responses, not the first's
    listed = json.loads(CliRunner().invoke(main, ["list", "datasets", "bin_late", "--json"]).output)
    assert listed[0]["recording"] == "imported, time bin 170-270 ms"
    first = as_neural_assembly(read_assembly(root / "a.nc"), time_bin=0)
    assert (first.attrs["time_bin_start"], first.attrs["time_bin_end"]) == (70, 170)
    np.testing.assert_array_equal(first.values, values[:, :, 0])


def test_stimuli_of_several_preprocessed_sizes_are_named_with_their_sizes(tmp_path):
    """A fully convolutional network without a Resize: the odd image is refused even in a batch of its own, where
    torch.stack would not notice, and for a pooled layer whose units would not notice either."""
    mixed = save(tmp_path / "mixed", {"a0": (20, 20), "a1": (20, 20), "a2": (20, 20), "big": (24, 30)})
    stimuli = brainbench.StimulusSet.from_files(sorted(mixed.glob("*.png")), ids=["a0", "a1", "a2", "big"],
                                                identifier="mixed")
    message = ("fcn's preprocessing gives the 4 stimuli of 'mixed' 2 input sizes: 3x20x20 (3 stimuli: 'a0', 'a1', "
               "'a2'), 3x24x30 (1 stimulus: 'big'); a layer's features need one size for every stimulus: add a "
               "Resize and CenterCrop to the preprocessing, or pass images of one size")
    for batch_size in (None, 1):
        with pytest.raises(ConfigError) as error:
            fcn().extract(stimuli, ["3"], batch_size=batch_size, progress=False, cache=False)
        assert str(error.value) == message
    first_big = stimuli.subset(["big", "a0", "a1", "a2"])  # caught in the trace of the first two
    with pytest.raises(ConfigError, match=r"3x24x30 \(1 stimulus: 'big'\), 3x20x20 \(3 stimuli"):
        fcn().layer_table(first_big)
    same = fcn().extract(stimuli.subset(["a0", "a1", "a2"]), ["3"], batch_size=1, progress=False, cache=False)["3"]
    model = fcn()
    x = torch.stack([to_tensor(stimuli.image(s)) for s in ("a0", "a1", "a2")])
    with torch.inference_mode():
        np.testing.assert_allclose(same.values, model.module(x).numpy(), rtol=1e-6)  # one size: extracted as before


def test_features_name_the_layers_they_hold():
    features = fcn().extract(tiny_stimulus_set(n=3), "1", progress=False, cache=False)  # one spec as a string
    assert list(features) == ["1"]
    with pytest.raises(UnknownNameError, match="unknown layer of these features '2'. Known: '1'"):
        features["2"]


def test_a_gpu_index_beyond_the_machine_lists_the_gpus_there_are(monkeypatch):
    from brainbench.device import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match="this machine has 2 GPUs, cuda:0 to cuda:1"):
        pick_device("cuda:2")
    with pytest.raises(ConfigError, match="unknown device 'cuda:x'"):
        pick_device("cuda:x")


@pytest.mark.parametrize(("check", "value", "message"), [
    (lambda v: check_count(v, "batch size"), 0, "batch size must be a whole number >= 1; got 0"),
    (lambda v: check_count(v, "batch size"), 2.5, "got 2.5"),
    (lambda v: check_count(v, "batch size"), True, "got True"),
    (check_seed, -1, f"seed must be a whole number from 0 to {MAX_SEED} (2**32 - 1); got -1"),
    (check_seed, MAX_SEED + 1, f"got {MAX_SEED + 1}"),
    (check_level, 1.0, "strictly between 0 and 1 (e.g. 0.95); got 1.0"),
    (check_level, 0, "got 0"),
    (lambda v: check_positive_numbers(v, "ridge alphas"), [1.0, 0.0], "positive finite numbers"),
    (lambda v: check_positive_numbers(v, "ridge alphas"), [1.0, float("inf")], "positive finite numbers"),
    (lambda v: check_positive_numbers(v, "ridge alphas"), [], "positive finite numbers"),
    (lambda v: check_positive_numbers(v, "ridge alphas"), ["a"], "must be positive numbers"),
], ids=["count-zero", "count-float", "count-bool", "seed-negative", "seed-33-bits", "level-one", "level-zero",
        "alphas-zero", "alphas-infinite", "alphas-empty", "alphas-text"])
def test_checks_refuse_values_out_of_range(check, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check(value)


def test_checks_pass_values_in_range_through():
    assert check_count(3, "n") == 3 and check_seed(0) == 0 and check_seed(MAX_SEED) == MAX_SEED
    assert check_level(0.95) == 0.95 and check_positive_numbers(np.logspace(-1, 1, 3), "a") == (0.1, 1.0, 10.0)
    assert check_positive_numbers(2, "a") == (2.0,)


@pytest.mark.parametrize(("metric", "options", "message"), [
    ("ridge", {"alphas": [-1.0]}, "ridge alphas must be one or more positive finite numbers"),
    ("ridge", {"dtype": "float16"}, "ridge dtype 'float16' is not one of 'float64', 'float32'"),
    ("ridge", {"seed": -2}, "ridge seed must be a whole number from 0"),
    ("banded_ridge", {"alphas": []}, "banded_ridge alphas must be one or more positive"),
    ("banded_ridge", {"n_iter": 0}, "banded_ridge n_iter must be a whole number >= 1; got 0"),
    ("ereg", {"n_components": 0}, "ereg n_components must be a whole number >= 1; got 0"),
    ("pls", {"seed": 2**40}, "pls seed must be a whole number from 0"),
    ("rsa", {"distance": "cosine_typo"}, "RSA distance 'cosine_typo' is not one of"),
], ids=["ridge-alphas", "ridge-dtype", "ridge-seed", "banded-alphas", "banded-iterations", "ereg-components",
        "pls-seed", "rsa-distance"])
def test_metric_options_out_of_range_are_config_errors(metric, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        brainbench.get_metric(metric, **options)


def test_resampling_that_cannot_fit_in_memory_is_refused_before_drawing(monkeypatch):
    from brainbench.scoring import inference

    monkeypatch.setattr("brainbench.extraction.memory.default_memory_limit", lambda: 8 * 1000 * 100)  # 100 replicates of 1000
    weights, _ = inference._draws(1000, 1, 100, seed=0)
    assert weights.shape == (100, 1000) and (weights.sum(1) == 1000).all()
    with pytest.raises(MemoryBudgetError, match=r"101 bootstrap replicates over 1000 stimuli hold 808.0 KB of draws"
                                                r".*use at most 100 \(--bootstrap"):
        inference._draws(1000, 1, 101, seed=0)


def test_python_entry_points_refuse_what_the_cli_refuses():
    with pytest.raises(ConfigError, match="not Linear; wrap a torch module with brainbench.wrap"):
        brainbench.score(nn.Linear(2, 2), B)
    with pytest.raises(ConfigError, match="bootstrap replicates must be a whole number >= 2; got -5"):
        brainbench.score(G, B, bootstrap=-5)
    with pytest.raises(ConfigError, match="got 0"):
        brainbench.compare_models(G, G, B, n_perm=0)
    with pytest.raises(ConfigError, match="leaderboard value 'best' is not one of 'auto', 'normalised', 'raw'"):
        brainbench.leaderboard("synthetic", value="best")
    with pytest.raises(ConfigError, match="stimuli must be a brainbench.StimulusSet, not list"):
        fcn().extract(["a.png"], ["1"], progress=False)
    with pytest.raises(ConfigError, match=re.escape("names, globs or depth:LO-HI ranges (text); got [1]")):
        brainbench.score(G, B, layers=[1])
    with pytest.raises(ConfigError, match="seed must be a whole number"):
        brainbench.get_model(G, seed=-1)
    from brainbench.plugins.datasets import nsd

    with pytest.raises(ConfigError, match=r"NSD subject 1 has sessions 1-40; got \[0\]"):
        nsd.fetch_nsd([1], sessions=[0])  # refused before the terms of use are asked for
