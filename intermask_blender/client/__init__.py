"""The worker client: starting and talking to the worker process (``worker_client``), the one job the
UI polls with timers (``job``), choosing or building the Python that runs it (``deps``), and saying in one
line why pip could not build it (``pip_failure``). No torch: the worker runs in another interpreter.
"""
