"""Storage: the index (engine, migrations, queries), the blob stores and the deletion ledger."""
