"""The domain of gallra: tables, enums, the retention policy and its pure rules.

Nothing in this package does I/O beyond reading a policy file it is handed.
"""
