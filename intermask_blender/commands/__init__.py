"""The ``intermask`` command line: ``main`` dispatches; ``generate``/``react`` run the panel's job
headless, ``bake_saved`` bakes a saved clip, ``demo`` is the README's main job. Model-side subcommands
are handed to ``vendor_models.cli`` in a fresh interpreter.
"""
