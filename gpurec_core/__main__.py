"""`python -m gpurec_core` runs the CLI."""

from gpurec_core.cli import main

main()
