"""`python -m gallra`."""

# Everything is imported under the guard: worker processes started with 'spawn'
# import the parent's __main__ (as __mp_main__), and must neither run the
# command again nor pay for importing the whole CLI (~1 s) before their work.
if __name__ == "__main__":
    from gallra.cli import main

    main()
