"""The CLI: a thin layer over the API, with tables, JSON and exit codes scripts can trust."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import brainbench
from brainbench.cli.commands import EXIT_FAILED, EXIT_USAGE, main
from brainbench.extraction.identity import module_tree
from helpers.paths import REPO


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_DB", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.stdout if code == 0 else result.output

    return run


def test_list_models_with_filters(cli):
    listed = json.loads(cli("list", "models", "--where", "source=timm,task=classification,architecture=vision_transformer", "--json"))
    assert len(listed) > 100 and {m["source"] for m in listed} == {"timm"} and {m["task"] for m in listed} == {"classification"}
    assert json.loads(cli("list", "models", "resnet*", "--where", "source=torchvision", "--json"))[0]["name"] == "resnet18"
    names = [m["name"] for m in json.loads(cli("list", "models", "efficientnet_lite*", "-x", "*lite2", "--json"))]
    assert names == ["efficientnet_lite0", "efficientnet_lite1"]
    table = cli("list", "benchmarks")
    assert "synthetic.early" in table and "synthetic.late" in table
    assert "ridge" in cli("list", "metrics") and "synthetic" in cli("list", "datasets") and "2 tuners" in cli("list", "tuners")


def test_plugins_is_json(cli):
    plugins = {p["name"]: p for p in json.loads(cli("plugins"))}
    assert plugins["ridge"]["hooks"] == ["register_metrics"] and plugins["ridge"]["version"]


def test_score_results_and_leaderboard(cli, tmp_path):
    out = json.loads(cli("score", "--model", "synthetic_generator", "--benchmark", "synthetic.*", "--json", "-q",
                         "--plot", str(tmp_path / "layers.png")))
    assert [r["layer"] for r in out] == ["block1", "block3"]
    assert (tmp_path / "layers.png").stat().st_size > 1000
    rows = json.loads(cli("results", "--json"))
    assert [r["benchmark"] for r in rows] == ["synthetic.early", "synthetic.late"]
    full = json.loads(cli("results", "--id", str(rows[0]["id"])))
    assert full["provenance"]["benchmark"] == "synthetic.early"
    board = json.loads(cli("leaderboard", "synthetic", "--json"))
    assert board[0]["model"] == "synthetic_generator" and board[0]["n"] == 2
    table = cli("leaderboard", "--plot", str(tmp_path / "board.png"))
    assert "synthetic_generator" in table and (tmp_path / "board.png").exists()


def test_score_prints_a_table_and_random_weights_are_labelled(cli):
    out = cli("score", "-m", "synthetic_generator", "--weights", "random", "-b", "synthetic.late", "-q", "--layers", "block2,block3")
    assert "synthetic_generator[random] on synthetic.late" in out and "normalised" in out


def test_exit_codes(cli):
    out = cli("score", "-m", "resnet19", "-b", "synthetic.late", code=EXIT_USAGE)
    assert "unknown model 'resnet19'" in out and "resnet18" in out
    assert "unknown benchmark" in cli("score", "-m", "resnet18", "-b", "nothing.*", code=EXIT_USAGE)
    assert "--weights random" in cli("score", "-m", "resnet18", "-b", "synthetic.late", code=EXIT_FAILED)
    assert "bad filter" in cli("list", "models", "--where", "source", code=EXIT_USAGE)
    assert "unknown leaderboard" in cli("leaderboard", "nope", code=EXIT_USAGE)


def test_console_script_and_module_entry(tmp_path):
    out = subprocess.run([sys.executable, "-m", "brainbench", "list", "models", "--json"], capture_output=True, text=True, check=True)
    assert "efficientnet_lite0" in out.stdout
    bin_dir = __import__("pathlib").Path(sys.executable).parent
    version = subprocess.run([str(bin_dir / "brainbench"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("brainbench, version")


def test_bad_data_is_a_failed_run_not_a_usage_error(cli, plugin):
    from brainbench import DatasetCard, hookimpl
    from brainbench.registry.contracts import Dataset
    from brainbench.testing import tiny_stimulus_set

    class Few(Dataset):
        card = DatasetCard(name="few", species="none", recording="synthetic", regions=["r"])

        def stimulus_set(self):
            return tiny_stimulus_set(n=8)

        def assembly(self, region=None, subjects=None):
            import numpy as np

            from brainbench.data.assembly import neural_assembly

            return neural_assembly(np.random.default_rng(0).standard_normal((8, 2)), stimulus_id=self.stimulus_set().ids,
                                   neuroid_id=["a", "b"], region="r", subject="x")

    class P:
        @hookimpl
        def register_datasets(self, register):
            register(Few.card, Few)

        @hookimpl
        def register_benchmarks(self, register):
            register({"id": "few.r", "dataset": "few", "region": "r", "metric": "ridge", "ceiling": "none", "version": "1"})

    plugin(P(), "few-plugin")
    assert "8 stimuli are too few" in cli("score", "-m", "synthetic_generator", "-b", "few.r", "-q", code=EXIT_FAILED)


def test_layers_lists_depths_shapes_and_duplicates(cli):
    rows = json.loads(cli("layers", "synthetic_generator", "--json"))
    names = [r["layer"] for r in rows]
    assert names[:4] == ["block1.0", "block1.1", "block1.2", "block1"] and names[-1] == "head"
    by_name = {r["layer"]: r for r in rows}
    assert by_name["block1"]["same_as"] == "block1.2"
    assert [r["layer"] for r in rows if r["candidate"]] == ["block1", "block2", "block3"]
    assert by_name["block1.0"]["shape"] == "16x32x32" and rows[0]["depth"] == 0 and rows[-1]["depth"] == 1
    assert [r["layer"] for r in json.loads(cli("layers", "synthetic_generator", "--layers", "depth:0.9-1", "--json"))] == ["head.1", "head"]


def test_extract_dry_run_and_netcdf_output(cli, tmp_path):
    from PIL import Image

    from brainbench.data.netcdf import read_assembly

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 40 * i, dtype=np.uint8)).save(folder / f"img{i}.png")
    plan = json.loads(cli("extract", "-m", "synthetic_generator", "-s", str(folder), "--layers", "block*", "--dry-run",
                          "--memory-limit", "2MB", "--json", "-o", str(tmp_path / "out")))
    assert [r["layer"] for r in plan["layers"]] == ["block1.0", "block1.1", "block1.2", "block1", "block2.0", "block2.1",
                                                    "block2.2", "block2", "block3.0", "block3.1", "block3.2", "block3"]
    assert plan["layers"][0]["bytes"] == 3 * 16 * 32 * 32 * 4 and plan["layers"][3]["same_as"] == "block1.2"
    assert plan["total_bytes"] == sum(r["bytes"] for r in plan["layers"] if not r["same_as"])
    assert "memory limit 2.0 MB" in plan["summary"] and len(plan["passes"]) >= 1
    assert not (tmp_path / "out").exists()
    cli("extract", "-m", "synthetic_generator", "-s", str(folder), "--layers", "block3,head.1", "-q", "-o", str(tmp_path / "out"))
    logits = read_assembly(tmp_path / "out" / "head.1.nc")
    assert logits.sizes == {"presentation": 3, "neuroid": 10}
    assert list(logits["stimulus_id"].values) == ["img0", "img1", "img2"]
    tree = module_tree(brainbench.get_model("synthetic_generator").module)
    assert json.loads(logits.attrs["code"]) == {"brainbench": f"brainbench=={brainbench.__version__}",
                                                "torch": torch.__version__, "module tree": tree}  # what computed them


def test_images_in_subfolders_are_named_by_their_path(cli, tmp_path):
    from PIL import Image

    from brainbench.data.netcdf import read_assembly

    for i, kind in enumerate(["cat", "dog", "dog/big"]):  # class folders reuse file names
        (tmp_path / "images" / kind).mkdir(parents=True)
        Image.fromarray(np.full((20, 30, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "images" / kind / "001.png")
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    cli("extract", "-m", "synthetic_generator", "-s", str(tmp_path / "images"), "--layers", "head.1", "-q",
        "-o", str(tmp_path / "out"))
    ids = read_assembly(tmp_path / "out" / "head.1.nc")["stimulus_id"].values
    assert list(ids) == ["cat/001", "dog/001", "dog/big/001"]
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(tmp_path / "images" / "cat" / "001.jpg")
    error = cli("extract", "-m", "synthetic_generator", "-s", str(tmp_path / "images"), "--dry-run", code=EXIT_USAGE)
    assert "'cat/001' for" in error and "001.jpg and" in error


def test_stimulus_tables_give_captions_to_text_models_and_files_to_image_models(cli, tmp_path):
    from PIL import Image

    from brainbench.data.netcdf import read_assembly

    captions = ["a dog asleep on a sofa", "two trains at a station, one red"]
    (tmp_path / "caps.csv").write_text("stimulus_id,caption\nsofa,\"a dog asleep on a sofa\"\n"
                                       "trains,\"two trains at a station, one red\"\n")
    (tmp_path / "caps.txt").write_text("\n".join(captions) + "\n\n")
    for table in ("caps.csv", "caps.txt"):
        cli("extract", "-m", "hf-all-minilm-l6-v2", "-s", str(tmp_path / table), "--layers", "embedding", "-q",
            "--no-cache", "-o", str(tmp_path / table.replace(".", "_")))
    from_csv = read_assembly(tmp_path / "caps_csv" / "embedding.nc")
    from_txt = read_assembly(tmp_path / "caps_txt" / "embedding.nc")
    assert list(from_csv["stimulus_id"].values) == ["sofa", "trains"] and list(from_txt["stimulus_id"].values) == ["0", "1"]
    model = brainbench.get_model("hf-all-minilm-l6-v2")
    direct = model.extract(brainbench.StimulusSet.from_texts(captions), ["embedding"], progress=False, cache=False)
    np.testing.assert_array_equal(from_csv.values, direct["embedding"].values)
    np.testing.assert_array_equal(from_txt.values, direct["embedding"].values)

    (tmp_path / "img").mkdir()
    Image.fromarray(np.full((20, 30, 3), 90, dtype=np.uint8)).save(tmp_path / "img" / "a.png")
    (tmp_path / "images.tsv").write_text("stimulus_id\tfilename\nfirst\timg/a.png\n")  # relative to the table
    cli("extract", "-m", "synthetic_generator", "-s", str(tmp_path / "images.tsv"), "--layers", "head.1", "-q",
        "-o", str(tmp_path / "tsv"))
    assert list(read_assembly(tmp_path / "tsv" / "head.1.nc")["stimulus_id"].values) == ["first"]
    assert "on its own" in cli("extract", "-m", "synthetic_generator", "-s", str(tmp_path / "images.tsv"),
                               "-s", str(tmp_path / "img"), "--dry-run", code=EXIT_USAGE)


def test_extract_option_errors(cli, tmp_path):
    assert "either as --stimuli" in cli("extract", "-m", "synthetic_generator", code=EXIT_USAGE)
    assert "is smaller than one stimulus's forward pass" in cli(
        "extract", "-m", "synthetic_generator", "-d", "synthetic", "--memory-limit", "1KB", "--dry-run", code=EXIT_USAGE)
    assert "srp:K or pca:K" in cli("extract", "-m", "synthetic_generator", "-d", "synthetic", "--reduce", "pca", "--dry-run", code=EXIT_USAGE)


def test_score_with_an_interval_and_compare_two_models(cli):
    out = cli("score", "-m", "synthetic_generator", "-b", "synthetic.early", "--layers", "block1", "-q",
              "--bootstrap", "50")
    assert "95% bootstrap interval over stimuli and subjects (50 replicates)" in out
    out = cli("compare", "synthetic_generator", "synthetic_generator.random", "-b", "synthetic.early", "--layers",
              "block1", "--bootstrap", "50", "--permutations", "50", "-q", "--json")
    comparison = json.loads(out)
    assert comparison["model_b"] == "synthetic_generator[random]" and comparison["permutation"] == "stimuli"
    assert comparison["difference"] == pytest.approx(comparison["score_a"] - comparison["score_b"])
    assert len(json.loads(cli("results", "--json"))) == 2  # the newest of each model: A (scored twice), B


def test_tables_sent_to_a_pipe_keep_whole_rows(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = CliRunner().invoke(main, ["list", "benchmarks", "majajhong2015.*-pls"])
    assert out.exit_code == 0, out.output
    row = next(line for line in out.output.splitlines() if "majajhong2015.IT-pls" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")][:5] == [
        "majajhong2015.IT-pls", "majajhong2015", "IT", "pls", "internal_consistency"]  # not folded at 80 columns


def test_results_say_whether_a_benchmark_is_brain_data_or_a_simulation(cli):
    assert brainbench.describe_benchmark("cowley2023.V4").startswith(
        "cowley2023.V4: brain data (macaque, Utah array spike counts (100 ms)). Macaque V4, 50 units")
    assert brainbench.describe_benchmark("synthetic.early").startswith("synthetic.early: SIMULATION, not brain data")
    out = cli("score", "-m", "synthetic_generator", "-b", "synthetic.late", "-q", "--layers", "block3")
    assert out.index("synthetic.late: SIMULATION, not brain data") < out.index("synthetic_generator on synthetic.late")
    board = cli("leaderboard", "synthetic")
    assert board.index("synthetic: Validation leaderboard") < board.index("  synthetic.late: SIMULATION") < board.index("rank")


def _run_demo(monkeypatch, tmp_path, mirror):
    import importlib.util

    monkeypatch.setenv("BRAINBENCH_DB", f"sqlite:///{tmp_path / 'demo.sqlite'}")
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(mirror))
    spec = importlib.util.spec_from_file_location("demo", brainbench_repo() / "tools" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo.main(models=(["--model", "synthetic_generator", "--layers", "block1,block3"],), board=None)


def brainbench_repo():
    from pathlib import Path

    return REPO


def test_demo_says_in_one_line_when_the_real_data_cannot_be_reached(monkeypatch, tmp_path, capfd):
    empty = tmp_path / "mirror"
    empty.mkdir()
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))  # nothing fetched before
    assert _run_demo(monkeypatch, tmp_path, empty) == 0
    out = capfd.readouterr().out
    assert out.count("cannot be reached") == 1 and "cowley2023.V4" not in out
    assert "synthetic.early: SIMULATION" in out and "leaderboard synthetic" in out and "leaderboard cowley2023" not in out


def test_demo_ends_with_the_board_its_reports_and_plots(monkeypatch, tmp_path, capfd):
    import importlib.util

    catalog = tmp_path / "registry.toml"
    catalog.write_text((REPO / "registry.toml").read_text() + """
[leaderboards.demo_test]
models = ["synthetic_generator", "synthetic_generator.random"]
benchmarks = ["synthetic.early"]
""")
    monkeypatch.setenv("BRAINBENCH_REGISTRY", str(catalog))
    monkeypatch.setenv("BRAINBENCH_DB", f"sqlite:///{tmp_path / 'demo.sqlite'}")
    monkeypatch.setenv("BRAINBENCH_ACTIVATIONS", str(tmp_path / "activations"))
    spec = importlib.util.spec_from_file_location("demo", brainbench_repo() / "tools" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    out = tmp_path / "out"
    demo.show_board("demo_test", "synthetic_generator", "synthetic_generator[random]", out=out,
                    depth_benchmark="synthetic.early")
    captured = capfd.readouterr()
    printed = captured.out + captured.err
    assert "2 of 2 cells computed (2 ok, 0 failed)" in printed and f"open {out / 'demo_test.html'}" in printed
    html = (out / "demo_test.html").read_text()
    assert "synthetic_generator[random]" in html and "<script" in html
    for png in ("demo_test-board.png", "demo_test-scatter.png", "demo_test-depth.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| synthetic_generator[random] |" in (out / "demo_test.md").read_text()


@pytest.mark.skipif(not (brainbench_repo().parent / "shared" / "data" / "cowley2023_v4").is_dir(),
                    reason="needs the Cowley 2023 files in ../shared/data")
def test_demo_shows_real_v4_data_first(monkeypatch, tmp_path, capfd):
    assert _run_demo(monkeypatch, tmp_path, brainbench_repo().parent / "shared" / "data") == 0
    out = capfd.readouterr().out
    assert "cannot be reached" not in out
    assert out.index("cowley2023.V4: brain data (macaque") < out.index("synthetic.early: SIMULATION")
    assert out.index("leaderboard cowley2023") < out.index("leaderboard synthetic")
