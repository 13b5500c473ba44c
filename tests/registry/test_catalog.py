"""registry.toml: validated at load; a bad entry names the file, the key and the problem."""

import pytest

from brainbench import ConfigError, load_catalog


def test_shipped_registry_is_valid_and_declares_the_synthetic_benchmarks():
    catalog = load_catalog()
    assert {"synthetic.early", "synthetic.late"} <= set(catalog.benchmarks)
    early = catalog.benchmarks["synthetic.early"]
    assert (early.dataset, early.region, early.metric, early.ceiling, early.splits.n_splits) == ("synthetic", "early", "ridge", "split_half", 5)
    assert catalog.leaderboards["synthetic"].benchmarks == ["synthetic.*"]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[benchmarks."a.b"]\ndataset = "d"\nregion = "r"\nversion = "1"\n', r"benchmarks\.a\.b: metric: Field required"),
        ('[benchmarks."a.b"]\ndataset = "d"\nregion = "r"\nmetric = "m"\nversion = "1"\ncolour = 1\n', r"benchmarks\.a\.b: colour: Extra inputs"),
        ('[benchmarks."a.b"]\ndataset = "d"\nregion = "r"\nmetric = "m"\nversion = "1"\nsplits = { n_splits = 1 }\n', r"splits: Value error, kfold needs n_splits >= 2"),
        ('[benchmarks."ab"]\ndataset = "d"\nregion = "r"\nmetric = "m"\nversion = "1"\n', r"benchmarks\.ab: bad benchmark id"),
        ('[leaderboards.x]\nmodels = ["*"]\n', r"leaderboards\.x: benchmarks: Field required"),
        ('[benchmark]\n', r"unknown top-level tables \['benchmark'\]"),
        ('[benchmarks\n', r"not valid TOML"),
    ],
    ids=["missing-metric", "extra-key", "bad-splits", "bad-id", "leaderboard-missing", "unknown-table", "bad-toml"],
)
def test_bad_entries_name_file_key_and_problem(tmp_path, toml, expected):
    path = tmp_path / "registry.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=expected) as info:
        load_catalog(path)
    assert str(path) in str(info.value)
