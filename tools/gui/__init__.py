"""A real Blender GUI run of the add-on (``python3.11 tools/dev.py gui``): a Debian trixie root with
Blender 4.3 and Xvfb (:mod:`rootfs`), mounted safely (:mod:`mounts`), driven through real timers (:mod:`runner`,
``drive.py`` inside Blender)."""
