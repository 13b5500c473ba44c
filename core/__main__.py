"""``python -m brainbench`` runs the CLI."""

from .cli import main

main()
