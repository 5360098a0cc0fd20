"""Text encoders that turn a prompt into the transformer's condition vector (torch).

Imported by generation, training and evaluation; never by the add-on.
"""
