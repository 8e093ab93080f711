"""`python -m gallra`."""

from gallra.cli import main

main()
