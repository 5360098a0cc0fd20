"""The background worker process the add-on talks to (JSON lines, see ``motion.protocol``).

``process`` is the entry point (``python -m vendor_models worker``), ``state`` the job ledger its two
threads share, ``watchdog`` ends it with its parent. Imports torch through ``generation``; never imported
by the add-on, which only starts it as a process.
"""
