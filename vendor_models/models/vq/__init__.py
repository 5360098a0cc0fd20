"""The 2D (joints × time) motion VQ-VAE of InterMask, our implementation, with its config and checkpoint
format. Imported by generation, training and evaluation."""

from .vqvae import VQVAE, VQForward

__all__ = ["VQVAE", "VQForward"]
