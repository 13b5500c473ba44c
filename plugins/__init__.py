"""Built-in plugins: ``brainbench.plugins.{models,datasets,metrics,tuners}``.

Each module is registered through the ``brainbench`` entry-point group, exactly like a
third-party plugin.
"""
