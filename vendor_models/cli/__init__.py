"""The model side's command-line entry points (``python -m vendor_models COMMAND``).

``main`` dispatches to one module per subcommand, imported only when it runs so ``--help`` stays fast.
The add-on's ``intermask`` command hands every non-Blender subcommand to this package in a fresh
interpreter, so torch and bpy never share a process.
"""
