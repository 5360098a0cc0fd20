"""Read the authors' official InterMask release (``opt.txt`` + ``model/*.tar``) into our classes.

The transformer becomes our :class:`~vendor_models.models.transformer.model.InterMTransformer` with its
two official switches on; the VQ-VAE, whose structure differs from ours, gets its own class with the
official key names. This package imports torch and is never imported by the Blender add-on; none of the
official code is used, only its file formats and numbers (checked against
``shared/data/official_intermask_fixture``).
"""
