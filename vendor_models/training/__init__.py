"""Training of the VQ-VAE and the Inter-M Transformer (``intermask train vq|transformer``)."""
