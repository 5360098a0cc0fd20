"""Generation: prompt (+ partner) → token maps → decoded two-person clips (torch).

``generator.Generator`` is THE generation API for the worker, the command line and the evaluation; it
uses ``sampling`` (masked unmasking with guidance, any tokens kept fixed) and ``reaction`` (the partner
window and its frame). Edits in time build on it: ``windows`` fills token maps longer than the model's
window, ``canvas`` turns existing motion into tokens and decoded tokens back into motion, ``joins``
splices new frames into kept ones, ``time_edit`` regenerates a stretch or continues a clip,
``long_take`` makes 10-60 s takes and long reactions, and ``jobs`` maps each worker request to its call.
Imported by the worker, the CLI and the evaluation; never by the add-on.
"""
