"""Generation: prompt (+ partner) → token maps → decoded two-person clips (torch).

``generator.Generator`` is THE generation API for the worker, the command line and the evaluation; it
uses ``sampling`` (masked unmasking with guidance) and ``reaction`` (the partner window and its frame).
Imported by the worker, the CLI and the evaluation; never by the add-on.
"""
