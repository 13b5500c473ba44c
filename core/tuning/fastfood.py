r"""Fastfood low-dimensional reparameterisation of a network (Li et al. 2018, arXiv 1804.08838; Aghajanyan et al.
2021, arXiv 2012.13255).

A network's ``D`` trainable parameters move only in a random ``d``-dimensional subspace:

.. math::

    \theta = \theta_0 + P z,\qquad z \in \mathbb{R}^d \text{ (initialised at 0)},\qquad P \in \mathbb{R}^{D\times d},

with ``P`` one global Fastfood transform (Le et al. 2013), never materialised. With ``L = 2^{\lceil\log_2 d\rceil}``,
``z`` is padded with zeros to length ``L`` and ``P z`` is the first ``D`` entries of the stacked blocks

.. math::

    V_b\,z = \frac{1}{\sqrt{L\,\lVert g_b\rVert^2\,D/L}}\; H\,\mathrm{diag}(g_b)\,\Pi_b\,H\,\mathrm{diag}(s_b)\,z,
    \qquad b = 1..\lceil D/L\rceil,

where ``H`` is the (unnormalised, Sylvester-ordered) Walsh–Hadamard matrix of size ``L`` (:func:`fwht`), ``s_b``
random signs, ``\Pi_b`` a random permutation and ``g_b`` standard normal entries, all drawn from ``seed`` on the CPU
(the same ``P`` on every device). ``H\,\mathrm{diag}(g)\,\Pi\,H\,\mathrm{diag}(s)`` has columns of norm exactly
``\sqrt{L}\lVert g\rVert``, so each full block contributes ``L/D`` to every column's squared norm, and ``P``'s columns
have unit norm up to the last, partial block's share (within 1 % in practice; exactly 1 when ``L`` divides ``D``).
Li et al.'s code pads ``z`` to the next power of two of ``D`` and keeps ``D`` rows of one block, which leaves columns
of norm :math:`\sqrt{D/L}` (down to 0.71); the stacked form is Le et al.'s own and keeps them at 1.

Memory is O(D) (the signs, permutation and gains of ``\lceil D/L\rceil`` blocks, and ``\theta_0``), time
O(D log d) per forward (:func:`fwht` as Kronecker factors of at most 32, so at most ``32 \lceil \log_2 L / 5\rceil``
multiply-adds per entry); gradients come from torch's autograd through the transform (no hand-written backward).

**SAID** (Aghajanyan et al.): with ``groups`` (name patterns of parameters), each group ``j`` gets one learned scale
``\lambda_j`` (initialised at 1): :math:`\theta_j = \theta_{0,j} + \lambda_j (Pz)_j`; the scales count in ``d``, so
``z`` has ``d - m`` entries for ``m`` groups.
"""

from __future__ import annotations

import fnmatch
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from ..checks import check_count, check_seed
from ..errors import ConfigError

__all__ = ["FastfoodProjection", "LowDimensional", "fwht"]


_FACTOR_BITS = 5  # the Hadamard factors applied as dense matmuls have at most 2^5 = 32 rows


@functools.lru_cache(maxsize=64)
def _hadamard(bits: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The Sylvester Hadamard matrix of size ``2^bits`` (``H[i, j] = (-1)^popcount(i & j)``)."""
    index = torch.arange(1 << bits)
    parity = torch.zeros((1 << bits, 1 << bits), dtype=torch.int64)
    both = index[:, None] & index[None, :]
    for _ in range(bits):
        parity ^= both & 1
        both = both >> 1
    return (1 - 2 * parity).to(dtype=dtype, device=device)


def fwht(x: torch.Tensor) -> torch.Tensor:
    """The unnormalised Walsh–Hadamard transform ``H x`` along the last axis (Sylvester order, ``H H = L I``),
    whose length ``L`` must be a power of two; differentiable with torch's autograd. Raises ConfigError for a length
    that is not a power of two.

    Sylvester's ``H_L`` is the Kronecker product ``H_{f_1} ⊗ ... ⊗ H_{f_m}`` of smaller Hadamard matrices (``L =
    f_1 ... f_m``), so with ``x`` read as an ``f_1 x ... x f_m`` array, ``H x`` applies ``H_{f_i}`` along each axis:
    O(L (f_1 + ... + f_m)) operations as ``m`` dense matmuls with factors of at most 32 (``m = ceil(log2 L / 5)``).
    That is more arithmetic than the butterfly's ``L log2 L`` additions but far fewer passes over memory, and its
    backward is ``m`` matmuls: at ``L = 1024`` over 11.7 M entries, forward plus backward is ~8x faster than a
    butterfly of torch ops (benchmarks/bench_tuning.py)."""
    n = x.shape[-1]
    if n < 1 or n & (n - 1):
        raise ConfigError(f"the Walsh–Hadamard transform needs a power-of-two length; got {n}")
    bits = n.bit_length() - 1
    if bits == 0:
        return x.clone()
    m = -(-bits // _FACTOR_BITS)
    chunks = [bits // m + (1 if i < bits % m else 0) for i in range(m)]
    lead = x.shape[:-1]
    y = x.reshape(-1, n)
    rows, before = y.shape[0], 1
    for chunk in chunks:
        f = 1 << chunk
        h, after = _hadamard(chunk, x.dtype, x.device), n // (before * f)
        # the last axis as one GEMM (H is symmetric); the others as H @ (batch, f, after)
        y = y.reshape(-1, f) @ h if after == 1 else torch.matmul(h, y.reshape(rows * before, f, after))
        before *= f
    return y.reshape(*lead, n)


class FastfoodProjection(torch.nn.Module):
    """``P``: R^d -> R^D as a Fastfood transform (module docstring); ``projection(z)`` gives ``P z``, shape ``(D,)``.

    Raises ConfigError for d < 1, D < 1, or d > D (a subspace cannot have more dimensions than the space; never a
    silent truncation)."""

    def __init__(self, d: int, D: int, *, seed: int = 0):
        super().__init__()
        self.d, self.D = check_count(d, "d (subspace dimension)"), check_count(D, "D (parameters)")
        if d > D:
            raise ConfigError(f"d = {d} is larger than the D = {D} parameters it moves; choose d <= {D}")
        self.L = 1 << max(0, math.ceil(math.log2(d)))
        blocks = -(-D // self.L)
        generator = torch.Generator().manual_seed(check_seed(seed))
        signs = torch.randint(0, 2, (blocks, self.L), generator=generator).float() * 2 - 1
        permutation = torch.stack([torch.randperm(self.L, generator=generator) for _ in range(blocks)])
        gains = torch.randn(blocks, self.L, generator=generator)
        scale = 1 / torch.sqrt(self.L * (gains ** 2).sum(dim=1, keepdim=True) * D / self.L)
        self.register_buffer("signs", signs)
        self.register_buffer("permutation", permutation)
        self.register_buffer("gains", gains * scale)  # the normalisation folded into the gains

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape != (self.d,):
            raise ConfigError(f"z must have shape ({self.d},); got {tuple(z.shape)}")
        padded = torch.nn.functional.pad(z, (0, self.L - self.d)).to(self.signs.dtype)
        x = fwht(self.signs * padded)  # (blocks, L): each block's H diag(s) z
        x = torch.gather(x, 1, self.permutation) * self.gains
        return fwht(x).reshape(-1)[: self.D]

    def dense(self) -> torch.Tensor:
        """``P`` as a dense ``(D, d)`` matrix, built column by column (for tests and small D only)."""
        with torch.no_grad():
            eye = torch.eye(self.d, dtype=self.signs.dtype, device=self.signs.device)
            return torch.stack([self(eye[j]) for j in range(self.d)], dim=1)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


class LowDimensional(torch.nn.Module):
    """``module`` with its chosen parameters moved only as ``theta_0 + P z`` (module docstring): the trainable
    parameters are ``z`` (``d - len(groups)`` entries, zeros) and, with SAID ``groups``, one scale per group
    (ones); the module's own parameters are frozen and left untouched (read them back with :meth:`tuned_state`).

    ``parameters``: fnmatch patterns of the parameter names to move (default: every parameter that requires
    grad). ``groups``: a sequence of pattern lists, one per SAID group; every moved parameter must fall in exactly
    one group. Calling it runs ``module`` with the moved parameters (``torch.func.functional_call``), so gradients
    reach ``z`` and the scales exactly.

    Raises ConfigError for no matching parameters, d > D, d <= the number of groups, a parameter in no group or in
    two."""

    def __init__(self, module: torch.nn.Module, d: int, *, parameters: Sequence[str] | None = None,
                 groups: Sequence[Sequence[str]] | None = None, seed: int = 0):
        super().__init__()
        named = dict(module.named_parameters())
        if parameters is None:
            chosen = [n for n, p in named.items() if p.requires_grad]
        else:
            chosen = [n for n in named if _matches(n, parameters)]
        if not chosen:
            raise ConfigError(f"no parameter of the module matches {list(parameters or ['(requires_grad)'])}; "
                              f"it has {', '.join(list(named)[:8])}{', ...' if len(named) > 8 else ''}")
        self.names = chosen
        self.shapes = [named[n].shape for n in chosen]
        sizes = [named[n].numel() for n in chosen]
        self.D = sum(sizes)
        group_of = [0] * len(chosen)
        n_groups = 0
        if groups:
            n_groups = len(groups)
            for i, name in enumerate(chosen):
                hits = [g for g, patterns in enumerate(groups) if _matches(name, patterns)]
                if len(hits) != 1:
                    raise ConfigError(f"parameter {name!r} is in {len(hits)} SAID groups "
                                      f"({', '.join(map(str, hits)) or 'none'}); every moved parameter must be in "
                                      "exactly one")
                group_of[i] = hits[0]
        d = check_count(d, "d (subspace dimension)")
        if d <= n_groups:
            raise ConfigError(f"d = {d} leaves no dimension for z beside the {n_groups} SAID scales (they count in "
                              f"d); choose d > {n_groups}")
        self.d = d
        self.projection = FastfoodProjection(d - n_groups, self.D, seed=seed)
        reference = named[chosen[0]]
        self.register_buffer("theta0", torch.cat([named[n].detach().reshape(-1) for n in chosen]).clone())
        offsets = [0, *torch.tensor(sizes).cumsum(0).tolist()]
        self.slices = [(offsets[i], offsets[i + 1]) for i in range(len(chosen))]
        self.group_of = group_of
        self.z = torch.nn.Parameter(torch.zeros(d - n_groups, dtype=reference.dtype, device=reference.device))
        self.scales = torch.nn.Parameter(torch.ones(n_groups, dtype=reference.dtype, device=reference.device)) \
            if n_groups else None
        self.module = module
        for p in module.parameters():
            p.requires_grad_(False)
        self.projection.to(reference.device)

    def moved(self) -> dict[str, torch.Tensor]:
        """The moved parameters, ``theta_0 + (lambda_j) P z``, by name and in their own shapes."""
        delta = self.projection(self.z).to(self.theta0.dtype)
        sizes = [stop - start for start, stop in self.slices]
        # split, not delta[start:stop]: autograd's backward of each slice fills a D-sized zero tensor (62 of them for
        # a resnet18), of one split a single concatenation; same values and gradients
        steps = torch.split(delta, sizes)
        out = {}
        for i, (name, shape, step, base) in enumerate(zip(self.names, self.shapes, steps,
                                                          torch.split(self.theta0, sizes), strict=True)):
            if self.scales is not None:
                step = self.scales[self.group_of[i]] * step
            out[name] = (base + step).reshape(shape)
        return out

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return torch.func.functional_call(self.module, self.moved(), args, kwargs, strict=False)

    def tuned_state(self) -> Mapping[str, torch.Tensor]:
        """The module's state dict with the moved parameters replaced by their current values (detached)."""
        state = dict(self.module.state_dict())
        with torch.no_grad():
            state.update({k: v.detach().clone() for k, v in self.moved().items()})
        return state
