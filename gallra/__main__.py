"""`python -m gallra`."""

from gallra.cli import main

# Guarded: worker processes started with 'spawn' import the parent's __main__,
# and must not run the command again.
if __name__ == "__main__":
    main()
