"""Test helpers (not tests): files in the real formats, a local HTTP server, paths of the checkout.

Test files import them as ``from helpers.nsd_layout import write_nsd``: tests/ is on ``sys.path`` through
tests/conftest.py.
"""
