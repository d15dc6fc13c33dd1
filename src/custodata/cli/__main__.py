"""``python -m custodata.cli``."""

from custodata.cli.app import main

main()
