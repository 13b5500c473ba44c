"""Host memory for extraction: feature arrays on their own mappings, and glibc kept from re-faulting
activation memory between batches (checked by counting the process's page faults)."""

import ctypes
import resource

import numpy as np
import psutil
import pytest
import torch
from torch import nn

import brainbench
from brainbench.extraction.allocator import mapped_array, tunable, warm_heap
from brainbench.extraction.run import extract
from brainbench.testing import tiny_stimulus_set

BLOCK = 64 << 20  # over glibc's largest mmap threshold: served from a fresh mapping unless the heap is warm
PAGES = BLOCK // 4096


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _refault_after_free() -> int:
    """Page faults from writing a 64 MiB malloc block just after freeing one of the same size."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    first = libc.malloc(BLOCK)
    libc.memset(first, 1, BLOCK)
    libc.free(first)
    before = _faults()
    second = libc.malloc(BLOCK)
    libc.memset(second, 1, BLOCK)
    faults = _faults() - before
    libc.free(second)
    return faults


def test_mapped_array_is_zeroed_writable_and_handed_back_when_dropped():
    array = mapped_array((3, 5))
    assert array.dtype == np.float32 and array.shape == (3, 5) and not array.any() and array.flags.writeable
    torch.from_numpy(array)[1:].copy_(torch.ones(2, 5))  # how extraction hooks write into it
    np.testing.assert_array_equal(array.sum(1), [0, 5, 5])
    assert mapped_array((0, 4)).shape == (0, 4)

    process = psutil.Process()
    with warm_heap():  # where freed heap memory stays in the process
        start = process.memory_info().rss
        big = mapped_array((BLOCK // 4,))
        big[:] = 1
        assert process.memory_info().rss - start > 0.9 * BLOCK
        del big
        assert process.memory_info().rss - start < 0.1 * BLOCK  # unmapped at once, not kept by the heap


glibc_only = pytest.mark.skipif(not tunable(), reason="glibc malloc tuning applies on Linux with glibc only")


@glibc_only
def test_warm_heap_keeps_freed_memory_for_the_next_block_and_restores_glibc_on_leaving():
    assert _refault_after_free() > 0.9 * PAGES  # glibc's own rule: a fresh mapping, faulted page by page
    with warm_heap():
        assert _refault_after_free() < 0.05 * PAGES  # the freed block is reused, already in memory
        with warm_heap():  # re-entrant: leaving the inner block keeps the outer one's settings
            pass
        assert _refault_after_free() < 0.05 * PAGES
    assert _refault_after_free() > 0.9 * PAGES


@glibc_only
@pytest.mark.parametrize("env", [{"BRAINBENCH_TUNE_MALLOC": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}])
def test_warm_heap_leaves_malloc_alone_when_the_user_tunes_it_or_opts_out(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert not tunable()
    with warm_heap():
        assert _refault_after_free() > 0.9 * PAGES


def test_features_are_bit_identical_with_and_without_the_malloc_tuning(monkeypatch):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3), nn.Flatten(), nn.Linear(4 * 12 * 12, 5))
    model = brainbench.wrap(net, lambda img: torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)
                            .contiguous()[:, :16, :16], name="tuned")
    stimuli = tiny_stimulus_set(n=10, size=16)
    tuned = extract(model, stimuli, ["*"], cache=False, progress=False, batch_size=3)
    monkeypatch.setenv("BRAINBENCH_TUNE_MALLOC", "0")
    plain = extract(model, stimuli, ["*"], cache=False, progress=False, batch_size=3)
    assert list(tuned) == list(plain) == ["0", "1", "2", "3", "4"]
    for layer in tuned:
        np.testing.assert_array_equal(tuned[layer].values, plain[layer].values)
    x = torch.stack([model.preprocess(stimuli.image(s)) for s in stimuli.ids])
    with torch.inference_mode():
        np.testing.assert_allclose(tuned["4"].values, net(x).numpy(), rtol=1e-5, atol=1e-7)  # batches of 3 vs 10
