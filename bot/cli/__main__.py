"""`python -m bot.cli` runs `rmbot` (used to start worker processes with the same interpreter)."""

from bot.cli import main

main()
