"""Files in Brain-Score's brainio layout, written the way brainio writes them (for loader tests)."""

import numpy as np
import netCDF4


def write_brainio_file(path, values, presentation, neuroid, *, time_bins=None, identifier="dicarlo.Test2015.public",
                       stimulus_set_identifier="test-public"):
    """Level variables on their dims, a ``data`` variable, identifier attrs; ``values`` is (presentation, neuroid[,
    time_bin]) with ``time_bins`` [(start, end), ...] for the third dim."""
    coords = {"presentation": presentation, "neuroid": neuroid}
    dims = ("presentation", "neuroid")
    if time_bins is not None:
        coords["time_bin"] = {"time_bin_start": [s for s, _ in time_bins], "time_bin_end": [e for _, e in time_bins]}
        dims += ("time_bin",)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        for dim, size in zip(dims, values.shape):
            ds.createDimension(dim, size)
        data = ds.createVariable("data", "f8", dims)
        data[:] = values
        data.coordinates = " ".join(name for c in coords.values() for name in c)
        for dim, levels in coords.items():
            for name, vals in levels.items():
                if isinstance(vals[0], str):
                    var = ds.createVariable(name, str, (dim,))
                    var[:] = np.array(vals, dtype=object)
                else:
                    var = ds.createVariable(name, "i8", (dim,))
                    var[:] = np.array(vals)
        ds.identifier = identifier
        ds.stimulus_set_identifier = stimulus_set_identifier
