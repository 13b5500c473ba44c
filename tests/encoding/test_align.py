"""The shared step of the encoding metrics (brainbench.encoding.align): features aligned to the target's
stimuli by id, the device and dtype picked once, both as tensors."""

import numpy as np
import pytest
import torch
import xarray as xr

from brainbench.data.assembly import neural_assembly
from brainbench.encoding.align import metric_dtype, metric_tensors
from brainbench.errors import AssemblyError, ConfigError


def _features(ids, values):
    return xr.DataArray(values, dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", ids)})


def _target(ids, values):
    return neural_assembly(values, stimulus_id=ids, neuroid_id=[f"n{i}" for i in range(values.shape[1])],
                           region="IT", subject="1")


def test_features_follow_the_targets_stimulus_order_as_tensors():
    features = _features(["c", "a", "b"], np.array([[3.0, 30.0], [1.0, 10.0], [2.0, 20.0]], dtype=np.float32))
    target = _target(["a", "b", "c"], np.array([[0.5], [1.5], [2.25]]))
    data = metric_tensors(features, target, device="cpu")
    assert data.device == "cpu" and data.dtype == torch.float64
    assert data.X.dtype == torch.float32 and data.Y.dtype == torch.float64
    np.testing.assert_array_equal(data.X.numpy(), [[1, 10], [2, 20], [3, 30]])  # by id, not by position
    np.testing.assert_array_equal(data.Y.numpy(), [[0.5], [1.5], [2.25]])
    as32 = metric_tensors(features, target, device="cpu", dtype="float32", features_dtype="float64")
    assert as32.dtype == as32.Y.dtype == torch.float32 and as32.X.dtype == torch.float64


def test_float64_is_float32_on_mps_and_a_bad_dtype_is_named():
    assert metric_dtype("mps", "float64") == torch.float32  # MPS has no float64
    assert metric_dtype("cuda:1", "float64") == torch.float64 and metric_dtype("cpu", "float32") == torch.float32
    with pytest.raises(ConfigError, match="metric dtype 'float16' is not one of 'float64', 'float32'"):
        metric_dtype("cpu", "float16")


def test_a_stimulus_without_features_is_an_error_naming_it():
    features = _features(["a", "b"], np.ones((2, 2), dtype=np.float32))
    with pytest.raises(AssemblyError, match=r"1 target stimuli have no features, e.g. \['c'\]"):
        metric_tensors(features, _target(["a", "c"], np.ones((2, 1))), device="cpu")
