"""How far Learning without Forgetting's distillation term alone moves a network that starts at its optimum.

At the parent's weights LwF's distillation loss is zero and so, up to rounding, is its gradient; a tuner that keeps
the original task should then leave the network where it is. This script distils a network onto its own outputs
(the frozen parent's logits on the same images, LwF's term with lambda 1, T = 2, T^2) for a few steps under each
optimiser and dropout setting of :class:`brainbench.tuning.train.TrainConfig`, and prints how far the tuned
network's outputs moved on held-out images: the KL from the parent and the top-1 agreement with it
(:func:`brainbench.tuning.losses.label_free_cost`).

What it shows (README, "Tuning toward the brain"): with dropout on, the student's noisy outputs give the term a
real gradient from step 0, which drifts the network; with dropout off, the gradient is only rounding residue
(~1e-8 per coordinate), which SGD turns into steps of that size but Adam rescales to about the learning rate per
coordinate, so Adam drifts as far as a real gradient would.

    python tools/lwf_drift.py                       # efficientnet_lite0 on cowley2023.V4's images (BRAINBENCH_MIRROR)
    python tools/lwf_drift.py --model synthetic_generator --benchmark synthetic.late --steps 20
"""

from __future__ import annotations

import argparse
import copy


def drift(model_name: str, benchmark: str, *, steps: int, batch_size: int, settings: list[tuple[str, float, str]],
          seed: int = 0) -> list[dict]:
    """For each (optimizer, lr, dropout) in ``settings``: ``steps`` steps of the distillation term alone from the
    parent's weights, through the tuners' training loop (:func:`brainbench.tuning.train.train`; batch-norm statistics
    frozen, its default); returns rows with the gradient norm at the parent's weights and the held-out KL from the
    parent and top-1 agreement."""
    import numpy as np
    import torch

    import brainbench
    from brainbench.tuning.data import load_tuning_data, model_inputs
    from brainbench.tuning.losses import distillation_loss, label_free_cost
    from brainbench.tuning.train import TrainConfig, train, training_mode

    model = brainbench.get_model(model_name)
    data = load_tuning_data(benchmark, seed=seed)
    inputs = model_inputs(model, data.stimuli, data.ids)
    n = steps * batch_size
    train_x, test_x = inputs[data.train[:n]], inputs[data.test[:64]]
    parent = copy.deepcopy(model.module).eval()
    with torch.no_grad():
        parent_train, parent_test = parent(train_x), parent(test_x)
    rows = []
    for optimizer, lr, dropout in settings:
        student = copy.deepcopy(parent)
        config = TrainConfig(epochs=1, batch_size=batch_size, optimizer=optimizer, lr=lr,  # type: ignore[arg-type]
                             dropout=dropout, patience=None, keep="last", seed=seed)  # type: ignore[arg-type]

        def batch_loss(indices: np.ndarray) -> torch.Tensor:
            rows_ = torch.from_numpy(np.asarray(indices))
            return distillation_loss(student(train_x[rows_]), parent_train[rows_], T=2.0, form="kl", t_squared=True)

        training_mode(student, config)  # the gradient at the parent's weights, in the mode the steps run in
        torch.manual_seed(seed)
        grads = torch.autograd.grad(batch_loss(np.arange(batch_size)), list(student.parameters()), allow_unused=True)
        grad0 = float(sum(g.double().norm() ** 2 for g in grads if g is not None) ** 0.5)
        train(student, batch_loss, n, config=config)  # the tuners' own loop: one epoch of ``steps`` steps
        with torch.no_grad():
            cost = label_free_cost(student.eval()(test_x), parent_test)
        rows.append({"optimizer": optimizer, "lr": lr, "dropout": dropout, "grad_norm_step0": grad0, **cost})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--benchmark", default="cowley2023.V4")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    settings = [("adam", 1e-4, "train"), ("adam", 1e-4, "off"), ("sgd", 1e-3, "train"), ("sgd", 1e-3, "off")]
    rows = drift(args.model, args.benchmark, steps=args.steps, batch_size=args.batch_size, settings=settings)
    print(f"{args.model}: {args.steps} steps of LwF's distillation term alone (batch {args.batch_size}), from the "
          f"parent's weights; held-out KL from the parent and top-1 agreement on {args.benchmark}'s test images")
    print(f"{'optimizer':>9} {'lr':>7} {'dropout':>7} {'|grad| step 0':>14} {'KL':>10} {'agreement':>9}")
    for r in rows:
        print(f"{r['optimizer']:>9} {r['lr']:>7g} {r['dropout']:>7} {r['grad_norm_step0']:>14.3g} "
              f"{r['kl_from_parent']:>10.3g} {r['top1_agreement']:>9.3f}")


if __name__ == "__main__":
    main()
