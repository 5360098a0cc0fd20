"""Rigs: which bone plays which joint (``bonemap``: name presets, else the rig's structure found by
``bone_tree`` / ``body_frame`` / ``limb_joints`` / ``structure_map``, every map checked by ``map_checks``),
a rig's rest measurements (``rig_rest``), the retarget solve (``retarget``), reading an animated armature
back as a clip (``read_armature``), the built-in mannequins (``mannequin``, their body as numpy arrays in
``mannequin_body``), the rig specs of the command line (``rig_specs``), and rig files brought into the
scene through Blender's importers (``rig_import``, guarded by ``import_guard``, checked by ``rig_files``, a
VRM's humanoid map by ``vrm_humanoid``). bpy and numpy only.
"""
