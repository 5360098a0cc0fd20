"""The 2D (joints × time) motion VQ-VAE of InterMask, our implementation."""

from .vqvae import VQVAE, VQForward

__all__ = ["VQVAE", "VQForward"]
