"""Known-answer problems shared by the tuning tests."""

from __future__ import annotations

import torch


class GroupSums(torch.nn.Module):
    """Li et al. 2018's toy problem: D = 1000 parameters in 10 groups of 100; the output is each group's sum, so
    fitting 10 target sums has intrinsic dimension exactly 10."""

    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.randn(10, 100, generator=torch.Generator().manual_seed(0),
                                                    dtype=torch.float64))

    def forward(self):
        return self.theta.sum(dim=1)
