"""Install the built extension zip the way Blender's "Install from Disk" does, inside any bpy (4.2 to 5.2).

Imported by scripts that the tests run in a separate bpy process (``test_packaging.py``'s snippets,
``blender_version_smoke.py``), never by pytest itself: the caller points ``BLENDER_USER_RESOURCES`` at a
temporary folder, so the developer's own Blender configuration is never touched.
"""

from __future__ import annotations

import bpy
import addon_utils  # after bpy, which puts Blender's script modules on sys.path

REPO_MODULE = "imtest"
#: the add-on's module once installed into the test repository
ADDON = f"bl_ext.{REPO_MODULE}.intermask_blender"


def install(zip_path: str, repo_dir: str) -> str:
    """Install and enable ``zip_path`` through the extension API into a new user repository at ``repo_dir``."""
    bpy.context.preferences.extensions.repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=repo_dir,
                                                 source="USER")
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo=REPO_MODULE, enable_on_install=True)
    return ADDON


def registered() -> dict[str, bool]:
    """What of the add-on Blender can see right now: enabled, its operator, its scene settings, its preferences."""
    addon = bpy.context.preferences.addons.get(ADDON)
    return {
        "enabled": addon is not None,
        "ops": hasattr(bpy.ops.intermask, "generate") and "INTERMASK_OT_generate" in dir(bpy.types),
        "scene_prop": hasattr(bpy.types.Scene, "intermask"),
        "prefs": addon is not None and addon.preferences is not None
        and addon.preferences.bl_rna.identifier == "IM_Preferences",
    }


def toggle_twice() -> list[dict[str, bool]]:
    """Disable and re-enable the installed add-on twice, as a user would in Preferences; one snapshot per state.

    Returns five snapshots (enabled, disabled, enabled, disabled, enabled), so a register() or unregister() that
    leaves something behind shows up in the second round."""
    states = [registered()]
    for _ in range(2):
        addon_utils.disable(ADDON, default_set=True)
        states.append(registered())
        addon_utils.enable(ADDON, default_set=True)
        states.append(registered())
    return states
