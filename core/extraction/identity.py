"""The identity of a torch module: the state and the module tree its forward pass computes with.

A wrapped network can change after it was wrapped: an optimiser step, ``load_state_dict``, a write under
``torch.no_grad()``, through ``.data``, a numpy view or DLPack, batch-norm statistics updated by a
training-mode forward pass, ``train()``/``eval()``, a submodule replaced. The activation cache, the layer
trace and score provenance therefore read the identity from the module each time they need it:

- :func:`state_hash` (a model's ``weights_hash``): sha256 over every parameter and buffer and, when any
  submodule is in training mode, those submodules' names;
- :func:`module_tree` (the ``"module tree"`` entry of a model's code versions): sha256 over every
  submodule's path, class, settings (``extra_repr`` and plain public attributes), forward hooks and
  instance-level ``forward``;
- :func:`state_fingerprint`: a content fingerprint of the same state, read on the tensors' own device
  several times faster than the sha256, which :class:`ModuleIdentity` recomputes on every call to tell
  when the sha256 must be computed again.

Version counters and data pointers would cost nothing, but miss most routes (measured with torch 2.13:
``.data``, numpy views, DLPack, ``Adam(fused=True)`` and batch norm's running statistics leave the counter
alone), so the fingerprint reads every byte. Per tensor, its 64-bit words are laid out in rows of
:data:`ROW` and summed (mod 2^64) along every row and every column; tensors under two rows are taken
whole. Any change to one word, or an exchange of two different words, changes a sum. Not seen: a change
whose word differences cancel (mod 2^64) along every row and every column of that grid at once, which takes
at least four changed words, two in each row and column they touch, and which no arithmetic on weights
produces by chance.
Also not part of the identity: what a ``forward`` or a hook reads besides the state and plain settings —
a tensor kept as a plain attribute instead of a buffer, a dict, list of tensors or config object, values
in a hook's closure — and global state (``torch.backends`` flags); after changing those, wrap the module
again under another name.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["ROW", "ModuleIdentity", "module_tree", "stable_repr", "state_fingerprint", "state_hash"]

ROW = 4093  # words per row of the fingerprint's grid; a prime, so rows rarely line up with a weight's own rows
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # an object's address in a repr: differs between processes


def _state(module: torch.nn.Module) -> Iterator[tuple[str, Any]]:
    """The state dict in name order (tensors, or a module's extra state), then buffers left out of it
    (``persistent=False``: rotary tables, position ids), each marked so, in name order."""
    state = module.state_dict()
    yield from sorted(state.items())
    extra = {name: b for name, b in module.named_buffers(remove_duplicate=False) if name not in state}
    for name, buffer in sorted(extra.items()):
        yield f"\0buffer {name}", buffer


def stable_repr(obj: Any) -> str:
    """``repr(obj)`` without object addresses (``<function preprocess at 0x7f...>``), which differ between
    processes and so would keep a cache key from ever matching again."""
    return _ADDRESS.sub("", repr(obj))


def _training(module: torch.nn.Module) -> str:
    """The submodules in training mode, one path a line (the root is ``""``); empty when all evaluate."""
    return "\n".join(name for name, m in module.named_modules(remove_duplicate=False) if m.training)


def _bytes(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bytes as a flat uint8 tensor on its device (a copy only where it is not contiguous)."""
    import torch

    t = t.detach().resolve_conj().resolve_neg()
    if t.layout != torch.strided or t.is_quantized:  # sparse, quantized: their serialised form
        buffer = io.BytesIO()
        torch.save(t.cpu(), buffer)
        return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    return t.contiguous().reshape(-1).view(torch.uint8)


def state_hash(module: torch.nn.Module) -> str:
    """sha256 over the state dict (names, dtypes, shapes, bytes, in name order), then buffers left out of the
    state dict, then, only if any submodule is in training mode, those submodules' paths. A module in eval
    mode (as :func:`brainbench.wrap` leaves it) without such buffers hashes exactly its state dict.
    2.2 s for a 304M-parameter ViT-L on our 2-core CPU (``benchmarks/bench_identity.py``)."""
    h = hashlib.sha256()
    for key, value in _state(module):
        if not hasattr(value, "dtype"):  # a module's extra state (get_extra_state): any picklable object
            h.update(f"{key}:{value!r}".encode())
            continue
        h.update(f"{key}:{value.dtype}:{tuple(value.shape)}".encode())
        h.update(memoryview(_bytes(value).cpu().numpy()))
    if training := _training(module):
        h.update(f"\0training\n{training}".encode())
    return h.hexdigest()


def _sums(words: torch.Tensor) -> bytes:
    """Row and column sums (mod 2^64) of ``words`` (int64) laid out in rows of :data:`ROW`, then the words past
    the last full row as they are: on the CPU by numpy (several times faster than torch's integer sums there),
    elsewhere by torch on the tensor's device. Both give the same bytes for the same words."""
    if words.device.type != "cpu":
        try:
            return _torch_sums(words)
        except RuntimeError:  # a backend without 64-bit integer sums: on the CPU instead
            words = words.cpu()
    return _numpy_sums(words)


def _numpy_sums(words: torch.Tensor) -> bytes:
    w = words.numpy()
    full = len(w) // ROW * ROW
    grid = w[:full].reshape(-1, ROW)
    return grid.sum(0).tobytes() + grid.sum(1).tobytes() + w[full:].tobytes()


def _torch_sums(words: torch.Tensor) -> bytes:
    full = words.numel() // ROW * ROW
    grid = words[:full].reshape(-1, ROW)
    return b"".join(part.cpu().numpy().tobytes() for part in (grid.sum(0), grid.sum(1), words[full:]))


def state_fingerprint(module: torch.nn.Module) -> str:
    """A digest that changes whenever :func:`state_hash` does (see the module docstring for what it cannot see),
    computed on the tensors' own device, reading each byte once per sum: 0.63 s for a 304M-parameter ViT-L on our
    2-core CPU, against 2.2 s for the sha256 (``benchmarks/bench_identity.py``); on a GPU it runs there, where
    the sha256 would first copy the state out."""
    import torch

    h = hashlib.sha256()
    for key, value in _state(module):
        if not hasattr(value, "dtype"):
            h.update(f"{key}:{value!r}".encode())
            continue
        h.update(f"{key}:{value.dtype}:{tuple(value.shape)}".encode())  # not the device: a move changes no byte
        data = _bytes(value)
        n = data.numel() // 8 * 8
        if n // 8 >= 2 * ROW:
            head = data[:n] if data.storage_offset() % 8 == 0 else data[:n].clone()  # 64-bit words need alignment
            h.update(_sums(head.view(torch.int64)))
            h.update(memoryview(data[n:].cpu().numpy()))
        else:
            h.update(memoryview(data.cpu().numpy()))
    h.update(f"\0training\n{_training(module)}".encode())
    return h.hexdigest()


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', None) or type(fn).__module__}.{name}"


def _plain(value: Any) -> bool:
    """Whether ``value`` is a plain setting: None, a bool, number or string, or a tuple or list of them."""
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def module_tree(module: torch.nn.Module) -> str:
    """``sha256:<hex>`` over every submodule (shared ones under each path): its path, class, settings
    (``extra_repr``, and its public attributes that are plain values: ``self.scale = 2``, ``self.eps``),
    forward pre-hooks and hooks, and a ``forward`` set on the instance (by qualified name), object addresses
    removed. Replacing ``net.act = nn.GELU()`` or ``net.fc = Head()``, or setting ``net.block.scale = 2``,
    changes it even where the parameters stay the same; milliseconds for a few hundred submodules."""
    h = hashlib.sha256()
    for name, m in module.named_modules(remove_duplicate=False):
        cls = type(m)
        hooks = [_callable_name(fn) for fn in (*m._forward_pre_hooks.values(), *m._forward_hooks.values())]
        forward = m.__dict__.get("forward")
        settings = sorted((k, v) for k, v in vars(m).items() if not k.startswith("_") and k != "training" and _plain(v))
        line = (f"{name}\t{cls.__module__}.{cls.__qualname__}\t{m.extra_repr()}\t{settings!r}\t{','.join(hooks)}\t"
                f"{'' if forward is None else _callable_name(forward)}\n")
        h.update(_ADDRESS.sub("", line).encode())
    return "sha256:" + h.hexdigest()


class ModuleIdentity:
    """A module's :func:`state_hash`, recomputed only when its :func:`state_fingerprint` changes."""

    def __init__(self) -> None:
        self._last: tuple[str, str] | None = None  # (fingerprint, state hash)

    def state_hash(self, module: torch.nn.Module) -> str:
        fingerprint = state_fingerprint(module)
        if self._last is None or self._last[0] != fingerprint:
            self._last = (fingerprint, state_hash(module))
        return self._last[1]
