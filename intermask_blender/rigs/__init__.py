"""Rigs: which bone plays which joint (``bonemap``), a rig's rest measurements (``rig_rest``), the
retarget solve (``retarget``), reading an animated armature back as a clip (``read_armature``), the
built-in mannequins (``mannequin``, their body as numpy arrays in ``mannequin_body``) and the rig specs
of the command line (``rig_specs``). bpy and numpy only.
"""
