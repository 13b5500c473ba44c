"""``python -m brainbench`` runs the CLI."""

from .cli.commands import main

main()
