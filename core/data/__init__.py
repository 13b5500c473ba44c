"""What brain data and stimuli are, in memory and on disk: stimulus sets, neural assemblies, netCDF files,
tables, downloads, remote files and the data home. Imports only the base modules (errors, device, names,
checks, progress)."""
