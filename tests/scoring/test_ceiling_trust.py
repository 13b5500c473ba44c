"""A ceiling that cannot be trusted never divides a score.

Every ceiling rule (split_half for encoding and for RSA on responses, internal_consistency, ncsnr, nili, none),
per subject and aggregated: on pure noise (40 stimuli x 4 repetitions x 6 neuroids, issue 19) the score has no
normalised value, a CeilingWarning says why, and the raw score and the ceiling are still reported; on data of
known reliability the ceiling is its closed form, sqrt(1 / (1 + sigma^2 / repetitions)) (the reliability itself
under Brain-Score's r^2 rule), and divides the score. Then what the bootstrap, compare_models, the results
store, leaderboards and the CLI do with a missing normalised score.
"""

import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import pearsonr

import brainbench
from brainbench import DatasetCard
from brainbench.data.assembly import neural_assembly
from brainbench.scoring.ceiling import MIN_RELIABILITY, split_half_reliability, why_untrusted
from brainbench.cli.commands import UNTRUSTED, main
from brainbench.registry.contracts import Dataset
from brainbench.errors import CeilingWarning
from brainbench.scoring.compare import compare_models
from brainbench.rdm.rdms import rdm_assembly
from brainbench.results.store import ResultsStore
from brainbench.testing import tiny_stimulus_set

REPS = 4


class Recorded(Dataset):
    """``REPS`` repetitions of ``n`` stimuli for each subject's ``neuroids`` neuroids: a unit-variance signal plus
    Gaussian noise of SD ``subjects[s]``, or pure noise (SD 1, no signal) where that is ``None``. Each neuroid's
    ``ncsnr`` is the true 1 / sigma, or, for pure noise, NSD's estimate from the trials (Allen et al. 2022)."""

    subjects = {"m": None}
    neuroids = 6
    n = 40
    seed = 1  # the issue's case: Brain-Score's ceiling comes out negative
    constant = False  # make the first neuroid constant (no variance, no reliability)

    def __init__(self):
        self.card = DatasetCard(name="recorded", species="none", recording="synthetic", regions=["r"])

    def stimulus_set(self):
        return tiny_stimulus_set(n=self.n)

    @classmethod
    def trials(cls):
        """``(repetition, stimulus, neuroid)`` and the neuroids' subjects and ncsnr."""
        rng = np.random.default_rng(cls.seed)
        blocks, subject, snr = [], [], []
        for name, sd in cls.subjects.items():
            signal = np.zeros((cls.n, cls.neuroids)) if sd is None else rng.standard_normal((cls.n, cls.neuroids))
            if sd is not None:
                signal = (signal - signal.mean(0)) / signal.std(0)
            block = signal[None] + (1.0 if sd is None else sd) * rng.standard_normal((REPS, cls.n, cls.neuroids))
            blocks.append(block)
            subject += [name] * cls.neuroids
            snr += list(nsd_ncsnr(block)) if sd is None else [1 / sd] * cls.neuroids
        trials = np.concatenate(blocks, axis=2)
        if cls.constant:
            trials[:, :, 0] = 3.0
        return trials, subject, np.array(snr)

    def assembly(self, region=None, subjects=None):
        trials, subject, snr = self.trials()
        ids = self.stimulus_set().ids
        return neural_assembly(trials.reshape(-1, trials.shape[2]), stimulus_id=ids * REPS,
                               repetition=np.repeat(np.arange(REPS), self.n),
                               neuroid_id=[f"n{j}" for j in range(trials.shape[2])], region="r", subject=subject,
                               neuroid_coords={"ncsnr": snr})


def nsd_ncsnr(trials):
    """NSD's ncsnr per voxel: betas z-scored, noise SD = sqrt(mean over images of the trial variance), signal SD =
    sqrt(max(0, 1 - noise variance)), ncsnr = signal SD / noise SD."""
    z = (trials - trials.mean((0, 1))) / trials.std((0, 1))
    noise_var = z.var(0, ddof=1).mean(0)
    return np.sqrt(np.clip(1 - noise_var, 0, None)) / np.sqrt(noise_var)


SHUFFLE = {"kind": "shuffle", "n_splits": 5, "test_size": 0.5, "seed": 0}
BENCHMARKS = {
    "split_half": {"metric": "ridge", "ceiling": "split_half"},
    "internal_consistency": {"metric": "ridge", "ceiling": "internal_consistency", "aggregate": "median"},
    "ncsnr": {"metric": "ridge", "ceiling": "ncsnr"},
    "rsa_split_half": {"metric": "rsa", "ceiling": "split_half", "splits": SHUFFLE},
    "pooled": {"metric": "ridge", "ceiling": "split_half", "subjects": "pooled"},
    "none": {"metric": "ridge", "ceiling": "none"},
}


class Agreeing(Dataset):
    """``S`` subjects' RDMs over ``n`` stimuli: a shared structure of unit variance (absent for pure noise) plus each
    subject's own noise of SD ``sigma``, on every stimulus pair."""

    S, n, sigma, signal, seed = 8, 60, 1.0, True, 0

    def __init__(self):
        self.card = DatasetCard(name="agreeing", species="none", recording="synthetic RDMs", regions=["r"])

    def stimulus_set(self):
        return tiny_stimulus_set(n=self.n, seed=1)

    def assembly(self, region=None, subjects=None):
        rng = np.random.default_rng(self.seed)
        pairs = self.n * (self.n - 1) // 2
        shared = rng.standard_normal(pairs) if self.signal else np.zeros(pairs)
        rdms = 5 + shared + self.sigma * rng.standard_normal((self.S, pairs))
        return rdm_assembly(rdms, stimulus_id=self.stimulus_set().ids, subject=[f"S{i}" for i in range(self.S)],
                            region="r")


@pytest.fixture
def recorded(dataset_plugin):
    dataset_plugin(Recorded, *({"id": f"recorded.{name}", "dataset": "recorded", "region": "r", "version": "1", **entry}
                               for name, entry in BENCHMARKS.items()))
    yield Recorded
    Recorded.subjects, Recorded.neuroids, Recorded.n, Recorded.seed, Recorded.constant = {"m": None}, 6, 40, 1, False


@pytest.fixture
def agreeing(dataset_plugin):
    dataset_plugin(Agreeing, {"id": "agreeing.r", "dataset": "agreeing", "region": "r", "metric": "rsa", "version": "1",
                              "metric_options": {"comparison": "pearson"}, "ceiling": "nili",
                              "splits": {"kind": "shuffle", "n_splits": 4, "test_size": 0.5, "seed": 0}})
    yield Agreeing
    Agreeing.sigma, Agreeing.signal = 1.0, True


def score(benchmark, **options):
    """The score and the CeilingWarnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = brainbench.score("synthetic_generator", benchmark, progress=False, layers=["block1", "block2"],
                                  **options)
    return result, [str(w.message) for w in caught if issubclass(w.category, CeilingWarning)]


def test_the_trust_rule_on_hand_computed_cases():
    assert why_untrusted(0.8, np.array([0.6, 0.7, 0.65])) is None
    assert why_untrusted(0.3, np.array([0.3])) is None  # one unit: no spread to judge by, the threshold alone
    assert why_untrusted(MIN_RELIABILITY, np.array([0.6])) == "the ceiling is 0.050, at or below 0.05"
    assert why_untrusted(-0.089, np.array([0.6])) == "the ceiling is -0.089, at or below 0.05"
    assert "not a number" in why_untrusted(float("nan"), np.array([0.6]))
    assert "not a number" in why_untrusted(None, np.array([0.6]))
    assert "median 0.040 over 1 neuroid," in why_untrusted(0.2, np.array([0.04]))
    # mostly non-positive: the median fails although the mean less two standard errors, 0.405 - 2 x 0.103, passes
    mostly_zero = np.array([0.9] * 9 + [0.0] * 11)
    assert "mean 0.405 (standard error 0.103) and median 0.000 over 20 neuroids, 11 of them at or below 0" in (
        why_untrusted(0.43, mostly_zero))
    # mean 0.22, SD 0.1709, standard error 0.0987: 0.22 - 2 x 0.0987 = 0.023 fails; median 0.2 and mean pass alone
    why = why_untrusted(0.45, np.array([0.4, 0.2, 0.06]))
    assert "mean 0.220 (standard error 0.099) and median 0.200" in why
    assert why_untrusted(0.45, np.array([0.3, 0.2, 0.1])) is None  # 0.2 - 2 x 0.0577 = 0.085 passes
    # a reliability that is not a number (a unit without variance) counts as 0
    assert "median 0.000" in why_untrusted(0.4, np.array([0.8, np.nan, np.nan]))
    assert why_untrusted(0.6, np.array([0.8, 0.8, 0.8, np.nan])) is None  # mean 0.6 - 2 x 0.2 = 0.2


@pytest.mark.parametrize("rule", ["split_half", "internal_consistency", "ncsnr", "rsa_split_half", "pooled"])
def test_pure_noise_has_no_normalised_score_under_any_rule(recorded, rule):
    """The issue's input: 40 stimuli x 4 repetitions x 6 neuroids of noise."""
    result, said = score(f"recorded.{rule}")
    assert result.normalised is None and all(s.normalised is None for s in result.subjects.values())
    assert len(said) == 1 and "too unreliable to normalise" in said[0] and said[0].endswith(result.notes[0])
    assert np.isfinite(result.raw) and result.raw == pytest.approx(np.mean([s.raw for s in result.subjects.values()]))
    trials, _, snr = Recorded.trials()
    if rule in ("split_half", "pooled"):
        reliability = split_half_reliability(trials)
        assert result.ceiling == pytest.approx(np.sqrt(np.clip(reliability, 0, None)).mean(), abs=1e-9)
        assert f"mean {reliability.mean():.3f}" in said[0] and f"median {np.median(reliability):.3f}" in said[0]
    elif rule == "internal_consistency":  # Brain-Score's ceiling, re-derived: negative here, and never divides
        from sklearn.model_selection import ShuffleSplit

        halvings = ShuffleSplit(10, train_size=0.5, random_state=1).split(np.zeros(REPS))
        expected = np.mean([np.median([2 * r / (1 + r) for r in (
            pearsonr(trials[a, :, j].mean(0), trials[b, :, j].mean(0))[0] for j in range(6))]) for a, b in halvings])
        assert expected < 0 and result.ceiling == pytest.approx(expected, abs=1e-12)
        assert f"the ceiling is {expected:.3f}, at or below 0.05" in said[0]
        assert "squares its sign away" not in " ".join(result.notes)  # nothing was squared and divided
    elif rule == "ncsnr":
        nc = snr**2 / (snr**2 + 1 / REPS)
        assert result.ceiling == pytest.approx(np.sqrt(nc).mean(), abs=1e-9)
        assert f"noise ceiling NC of mean {nc.mean():.3f}" in said[0]
    else:  # the subject's RDM, one unit: its split-half reliability is negative, clipped to a ceiling of 0
        assert result.neuroids["reliability"][0] < 0 and result.ceiling == 0
        assert "the ceiling is 0.000, at or below 0.05" in said[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_of_fifty_neuroids_never_divides(recorded, seed):
    Recorded.neuroids, Recorded.seed = 50, seed
    for rule in ("split_half", "internal_consistency", "ncsnr"):
        result, said = score(f"recorded.{rule}")
        assert result.normalised is None and len(said) == 1, rule


def test_no_ceiling_is_no_normalised_score_and_no_warning(recorded):
    result, said = score("recorded.none")
    assert result.ceiling is None and result.normalised is None and said == [] and np.isfinite(result.raw)
    assert all(s.ceiling is None and s.normalised is None for s in result.subjects.values())


@pytest.mark.parametrize("rule", ["split_half", "internal_consistency", "ncsnr"])
def test_known_reliabilities_give_the_closed_form_ceiling_and_divide(recorded, rule):
    """Unit signal plus noise SD sigma on 4 repetitions: the repeat mean's reliability is 1 / (1 + sigma^2 / 4)."""
    Recorded.subjects, Recorded.neuroids, Recorded.n = {"a": 1.0, "b": 2.0}, 30, 120
    result, said = score(f"recorded.{rule}")
    assert said == [] and not any("unreliable" in note for note in result.notes)
    for subject, sigma in Recorded.subjects.items():
        s = result.subjects[subject]
        reliability = 1 / (1 + sigma**2 / REPS)
        if rule == "internal_consistency":  # Brain-Score: the ceiling is the reliability, and divides r^2
            assert s.ceiling == pytest.approx(reliability, abs=0.04)
            assert s.normalised == pytest.approx(s.raw**2 / s.ceiling)
        else:
            tolerance = 1e-12 if rule == "ncsnr" else 0.03  # ncsnr is given; split-half estimates it
            assert s.ceiling == pytest.approx(np.sqrt(reliability), abs=tolerance)
            assert s.normalised == pytest.approx(s.raw / s.ceiling)
    assert result.normalised == pytest.approx(np.mean([s.normalised for s in result.subjects.values()]))


def test_rsa_on_responses_of_known_reliability_divides(recorded):
    Recorded.subjects, Recorded.neuroids, Recorded.n = {"a": 1.0}, 30, 80
    result, said = score("recorded.rsa_split_half")
    assert said == [] and result.normalised == pytest.approx(result.raw / result.ceiling)
    assert result.neuroids["reliability"][0] > 0.5  # value against simulation: test_rsa


def test_a_noisy_subject_loses_its_normalised_score_and_so_does_the_benchmark(recorded):
    Recorded.subjects, Recorded.neuroids = {"a": 1.0, "b": None}, 20
    result, said = score("recorded.split_half")
    a, b = result.subjects["a"], result.subjects["b"]
    assert a.normalised == pytest.approx(a.raw / a.ceiling) and a.ceiling == pytest.approx(np.sqrt(0.8), abs=0.05)
    assert b.normalised is None and b.ceiling is not None and np.isfinite(b.raw)
    assert result.normalised is None and result.ceiling == pytest.approx((a.ceiling + b.ceiling) / 2)
    assert len(said) == 1 and "the data of 1 of 2 subjects are too unreliable to normalise (b: " in said[0]
    assert "the benchmark has no normalised score either" in said[0]


def test_a_neuroid_without_variance_lowers_the_ceiling_instead_of_making_it_nan(recorded):
    Recorded.subjects, Recorded.n, Recorded.constant = {"a": 1.0}, 80, True
    result, said = score("recorded.split_half")
    reliability = split_half_reliability(Recorded.trials()[0][:, :, 1:])  # the other five
    assert np.isnan(result.neuroids["reliability"][0]) and said == []
    assert result.ceiling == pytest.approx(np.sqrt(reliability).sum() / 6, abs=1e-9)
    assert result.normalised == pytest.approx(result.raw / result.ceiling)


def test_nili_bounds_of_known_agreement_and_of_noise(agreeing):
    """Pearson between subject RDMs d_s = t + e_s (var t = 1, var e = sigma^2): lower bound (vs the mean of the
    other S - 1) 1 / sqrt((1 + sigma^2)(1 + sigma^2 / (S - 1))); upper (vs the mean of all S)
    sqrt((1 + sigma^2 / S) / (1 + sigma^2))."""
    result, said = score("agreeing.r")
    S, s2 = Agreeing.S, Agreeing.sigma**2
    assert result.ceiling_lower == pytest.approx(1 / np.sqrt((1 + s2) * (1 + s2 / (S - 1))), abs=0.03)
    assert result.ceiling == pytest.approx(np.sqrt((1 + s2 / S) / (1 + s2)), abs=0.03)
    assert said == [] and all(s.normalised == pytest.approx(s.raw / s.ceiling) for s in result.subjects.values())
    Agreeing.signal = False
    noise, said = score("agreeing.r")
    assert noise.normalised is None and all(s.normalised is None for s in noise.subjects.values())
    assert noise.ceiling > MIN_RELIABILITY  # the upper bound of noise, about 1 / sqrt(S): it would have divided
    assert len(said) == 1 and "all subjects: the subjects barely agree" in said[0] and "over 8 subject RDMs" in said[0]


def test_the_bootstrap_has_no_normalised_interval_without_a_trusted_ceiling(recorded):
    result, _ = score("recorded.split_half", bootstrap=50)
    assert result.interval.low < result.raw < result.interval.high
    assert result.interval.normalised_low is None and result.interval.normalised_high is None


def test_compare_models_says_why_there_is_no_normalised_score(recorded, tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    with pytest.warns(CeilingWarning):
        random = brainbench.get_model("synthetic_generator", weights="random")
        comparison, a, b = compare_models("synthetic_generator", random, "recorded.split_half",
                                          layers=["block1"], n_boot=50, n_perm=50, progress=False, store=store)
    assert a.normalised is None and b.normalised is None and a.ceiling == b.ceiling
    assert [n for n in comparison.notes if "too unreliable to normalise" in n] == [a.notes[0]]
    assert [r["normalised"] for r in store.rows()] == [None, None]
    assert store.get(store.rows()[0]["id"]).notes == a.notes


def test_store_leaderboard_and_cli_show_a_missing_normalised_score_with_its_reason(generator_results, tmp_path,
                                                                                   monkeypatch):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    early, late = generator_results["synthetic.early"], generator_results["synthetic.late"]
    store.add(early.model_copy(update={"model": "noisy"}))
    store.add(late.model_copy(update={"model": "noisy", "raw": 0.3, "ceiling": 0.02, "normalised": None}))
    table = brainbench.leaderboard("synthetic", store)
    assert np.isnan(table.loc["noisy", "synthetic.late"])  # missing, not its raw 0.3
    assert table.loc["noisy", "mean"] == pytest.approx(early.normalised) and table.loc["noisy", "n"] == 1
    assert table.attrs["missing"] == [
        "noisy on synthetic.late: no normalised score, its ceiling (0.020) is too unreliable to divide a score (raw "
        "0.300); `brainbench results --id 2` says why"]
    assert np.isnan(brainbench.leaderboard("synthetic", store, value="normalised").loc["noisy", "synthetic.late"])
    assert brainbench.leaderboard("synthetic", store, value="raw").loc["noisy", "synthetic.late"] == pytest.approx(0.3)
    monkeypatch.setenv("BRAINBENCH_DB", store.url)
    board = CliRunner().invoke(main, ["leaderboard", "synthetic", "--plot", str(tmp_path / "board.png")])
    # the board names the cell untrusted (not a number, not its raw score) with the reason and where to read more
    assert board.exit_code == 0 and "noisy on synthetic.late: untrusted: ceiling" in board.output
    assert "too unreliable to normalise raw 0.300" in board.output and "`brainbench results --id" in board.output
    listed = CliRunner().invoke(main, ["results"])
    assert listed.exit_code == 0 and UNTRUSTED in listed.output
    assert "results 2 have a ceiling too unreliable" in listed.output


def test_cli_score_prints_the_missing_normalised_score_and_why(recorded, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_DB", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    out = CliRunner().invoke(main, ["score", "-m", "synthetic_generator", "-b", "recorded.split_half", "-q",
                                    "--layers", "block1"])
    assert out.exit_code == 0 and out.output.count(UNTRUSTED) == 2  # the subject's row and the benchmark's
    assert "note: the data are too unreliable to normalise" in out.output and "Traceback" not in out.output
