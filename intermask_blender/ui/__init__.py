"""What the animator sees and presses: sidebar panel, scene properties, operators, add-on
preferences and the bone-map table (bpy). Registered by ``intermask_blender.register``.
"""
