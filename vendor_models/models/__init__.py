"""Networks of our InterMask implementation (torch): the VQ-VAE, the Inter-M Transformer, text encoders,
checkpoint files and the reader of the authors' official release. Imported by generation, training and
evaluation; never by the add-on. Import submodules explicitly; nothing heavy here."""
