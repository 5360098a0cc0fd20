"""The model half of InterMask for Blender: networks, sampling, training, evaluation, the worker, checkpoints.

Never imports bpy. The Blender add-on may import exactly one part of it, the numpy-only ``motion``
package (through ``intermask_blender.seam``), so importing this package itself must stay cheap and free
of torch; everything that needs torch lives in sub-packages imported on demand.
"""

__version__ = "0.1.0"
