"""The worker client: starting and talking to the worker process (``worker_client``), the one job the
UI polls with timers (``job``), and choosing or building the Python that runs it (``deps``).
No torch: the worker runs in another interpreter.
"""
