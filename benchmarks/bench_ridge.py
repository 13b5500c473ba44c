"""Cross-validated ridge encoding vs scikit-learn RidgeCV(alpha_per_target=True), same data and splits."""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from timing import best_of, report  # noqa: E402


def main(n=600, p=4000, q=1000):
    from sklearn.linear_model import RidgeCV

    from brainbench import SplitSpec
    from brainbench.data.assembly import neural_assembly
    from brainbench.plugins.metrics.ridge import ALPHAS, RidgeEncoding
    from brainbench.scoring.splits import make_splits

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 50)) @ rng.standard_normal((50, p)) + rng.standard_normal((n, p))
    Y = X[:, :50] @ rng.standard_normal((50, q)) + 5 * rng.standard_normal((n, q))
    ids = [f"s{i}" for i in range(n)]
    features = xr.DataArray(X.astype(np.float32), dims=("presentation", "neuroid"),
                            coords={"stimulus_id": ("presentation", ids), "unit": ("neuroid", np.arange(p)), "layer": ("neuroid", ["l"] * p)})
    target = neural_assembly(Y, stimulus_id=ids, neuroid_id=[f"n{i}" for i in range(q)], region="r", subject="a")
    splits = make_splits(SplitSpec(n_splits=5), n)
    metric = RidgeEncoding()
    ours, result = best_of(lambda: metric(features, target, splits), repeats=2)

    def sklearn_cv():
        alphas = []
        for split in splits:
            Xtr = X[split.train].astype(np.float64)
            scale = ((Xtr - Xtr.mean(0)) ** 2).sum() / len(split.train)
            alphas.append(RidgeCV(alphas=np.asarray(ALPHAS) * scale, alpha_per_target=True).fit(Xtr, Y[split.train]).alpha_ / scale)
        return alphas

    ref, ref_alphas = best_of(sklearn_cv, repeats=1)
    same = all(np.allclose(a, b) for a, b in zip(result.extra["alpha"].values, ref_alphas))
    report(f"ridge {n} stimuli x {p} features x {q} neuroids, 5 folds", ours, ref, "sklearn RidgeCV")
    print(f"  identical chosen alphas: {same}")


if __name__ == "__main__":
    main()
