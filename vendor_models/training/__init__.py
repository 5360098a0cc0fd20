"""Training of the VQ-VAE and the Inter-M Transformer (``intermask train vq|transformer``). Imported only
by its command-line entry point (``vendor_models.cli.train``)."""
