"""Text encoders that turn a prompt into the transformer's condition vector (torch).

``sentence_encoder`` is the offline MiniLM sentence encoder our own models use; ``clip_tokenizer`` and
``clip_tower`` are our implementation of OpenAI CLIP's BPE tokenizer and text tower with the official
InterMask text head, for imported official models. Imported by generation, training and evaluation;
never by the add-on.
"""
