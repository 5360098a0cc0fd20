"""What is wrong with a rig file, said before Blender's importer sees it.

Blender's importers answer a bad file with their own traceback (``Exception: This is not a BVH file``,
``IndexError`` on an empty one, ``Bad glTF: json error: utf-8``). Checking the few bytes that say what a
file is gives a message naming the file and the problem instead, and reading a glTF's JSON here also
gives :mod:`vrm_humanoid` the file's own humanoid map. No bpy: this only reads bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from ..errors import InterMaskError

#: Rig file suffixes and the importer that reads each.
FORMATS = {".fbx": "fbx", ".bvh": "bvh", ".glb": "gltf", ".gltf": "gltf", ".vrm": "gltf"}
_FBX_BINARY = b"Kaydara FBX Binary  \x00"
_GLB_MAGIC, _GLB_JSON = b"glTF", 0x4E4F534A
_BLEND_MAGICS = (b"BLENDER", b"\x28\xb5\x2f\xfd", b"\x1f\x8b")  # plain, zstd- and gzip-compressed .blend


class RigError(InterMaskError, ValueError):
    """A rig SPEC that cannot be turned into an armature; the message names the file or object."""


def _head(path: Path, size: int) -> bytes:
    if not path.is_file():
        raise RigError(f"rig file not found: {path}")
    with open(path, "rb") as handle:
        head = handle.read(size)
    if not head:
        raise RigError(f"{path}: the file is empty")
    return head


def check_rig_file(path: Path) -> str:
    """The importer for ``path`` ("fbx", "bvh", "gltf" or "blend"); :class:`RigError` says what is wrong."""
    kind = "blend" if path.suffix.lower() == ".blend" else FORMATS.get(path.suffix.lower())
    if kind is None:
        raise RigError(f"{path}: not a rig file type this add-on imports ({', '.join(FORMATS)}, .blend)")
    head = _head(path, 64)
    if kind == "fbx" and not head.startswith(_FBX_BINARY):
        if head.lstrip().startswith((b";", b"FBXHeaderExtension")):
            raise RigError(f"{path}: an ASCII FBX file, which Blender's FBX importer cannot read; export it as binary FBX")
        raise RigError(f"{path}: not an FBX file (it does not start with the binary FBX header)")
    if kind == "bvh" and not head.decode("latin-1").lstrip().upper().startswith("HIERARCHY"):
        raise RigError(f"{path}: not a BVH file (a BVH file starts with HIERARCHY)")
    if kind == "blend" and not head.startswith(_BLEND_MAGICS):
        raise RigError(f"{path}: not a .blend file (it does not start with Blender's file header)")
    if kind == "gltf":
        read_gltf_json(path)
    return kind


def read_gltf_json(path: Path) -> dict[str, Any]:
    """The JSON of a .gltf, or of a .glb/.vrm's JSON chunk, checked as far as a rig needs: parseable,
    complete, with its external buffers present and at least one skin (the skeleton)."""
    data = path.read_bytes()
    if not data:
        raise RigError(f"{path}: the file is empty")
    if data.startswith(_GLB_MAGIC):
        text = _glb_json_chunk(path, data)
    elif path.suffix.lower() == ".gltf":
        text = data
    else:
        raise RigError(f"{path}: not a binary glTF file (it does not start with 'glTF')")
    try:
        gltf = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RigError(f"{path}: not a glTF file (its JSON cannot be read: {exc})") from None
    if not isinstance(gltf, dict) or "asset" not in gltf:
        raise RigError(f"{path}: not a glTF file (no 'asset' in its JSON)")
    for buffer in gltf.get("buffers", []):
        uri = buffer.get("uri", "") if isinstance(buffer, dict) else ""
        if uri and not uri.startswith("data:") and not (path.parent / uri).is_file():
            raise RigError(f"{path}: its buffer file '{uri}' is missing (it must sit next to the .gltf)")
    if not gltf.get("skins"):
        raise RigError(f"{path}: has no skin, so no skeleton to animate (a rig file needs an armature)")
    return gltf


def _glb_json_chunk(path: Path, data: bytes) -> bytes:
    if len(data) < 20:
        raise RigError(f"{path}: truncated ({len(data)} bytes, shorter than a binary glTF header)")
    _, declared = struct.unpack_from("<II", data, 4)
    if declared > len(data):
        raise RigError(f"{path}: truncated (its header says {declared} bytes, the file has {len(data)})")
    length, chunk_type = struct.unpack_from("<II", data, 12)
    if chunk_type != _GLB_JSON:
        raise RigError(f"{path}: not a valid binary glTF (its first chunk is not JSON)")
    if 20 + length > len(data):
        raise RigError(f"{path}: truncated (its JSON chunk runs past the end of the file)")
    return data[20:20 + length]
