"""Small stand-ins for OpenAI's ``ViT-L-14-336px.pt``, for tests of CLIP import and identification.

The real file is 0.86 GB; these are a few MB and keep only what the code under test reads:

- the text tower is real-shaped and random: width 768 (so 12 heads, as ViT-L/14's), ``layers`` blocks (default 1
  instead of 12), 77 positions, fp16 as OpenAI ships it. Its vocabulary is cut to ``vocab_size`` rows (default 1024
  instead of 49408, which alone would be 76 MB), so run it only on ids below ``vocab_size``;
- the image tower is the few tensors identification looks at (``visual.conv1.weight`` [1024,3,14,14],
  ``visual.positional_embedding`` [577,1024]) plus a few more so it looks like a CLIP. They have their true shapes
  but are zero tensors expanded from one element: ``torch.save``/``torch.jit.save`` store that single element,
  so they cost no bytes;
- ``text_projection``, ``logit_scale`` and the TorchScript archive's int buffers (``input_resolution``,
  ``context_length``, ``vocab_size``) are there so loaders prove they drop them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

_VISION_WIDTH = 1024


def _stored_as_one_value(*shape: int) -> torch.Tensor:
    return torch.zeros(1, dtype=torch.float16).expand(*shape)


def fake_clip_state(*, text_width: int = 768, layers: int = 1, vocab_size: int = 1024, grid: int = 24,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """An OpenAI-format CLIP state dict; the defaults look like ViT-L/14@336px (``grid`` 16 → ViT-L/14)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.02) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * scale).half()

    def norm(prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": (1 + rand(text_width, scale=0.1)).half(), f"{prefix}.bias": rand(text_width)}

    w = text_width
    state = {"token_embedding.weight": rand(vocab_size, w), "positional_embedding": rand(77, w, scale=0.01)}
    for i in range(layers):
        block = f"transformer.resblocks.{i}"
        state |= {
            f"{block}.attn.in_proj_weight": rand(3 * w, w), f"{block}.attn.in_proj_bias": rand(3 * w),
            f"{block}.attn.out_proj.weight": rand(w, w), f"{block}.attn.out_proj.bias": rand(w),
            f"{block}.mlp.c_fc.weight": rand(4 * w, w), f"{block}.mlp.c_fc.bias": rand(4 * w),
            f"{block}.mlp.c_proj.weight": rand(w, 4 * w), f"{block}.mlp.c_proj.bias": rand(w),
        } | norm(f"{block}.ln_1") | norm(f"{block}.ln_2")
    state |= norm("ln_final") | {"text_projection": rand(w, w), "logit_scale": torch.tensor(4.6052)}
    state |= {
        "visual.conv1.weight": _stored_as_one_value(_VISION_WIDTH, 3, 14, 14),
        "visual.positional_embedding": _stored_as_one_value(grid * grid + 1, _VISION_WIDTH),
        "visual.class_embedding": _stored_as_one_value(_VISION_WIDTH),
        "visual.ln_post.weight": _stored_as_one_value(_VISION_WIDTH),
        "visual.proj": _stored_as_one_value(_VISION_WIDTH, w),
    }
    return state


def write_state_dict(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """A plain ``torch.save`` state dict, as a user's converted CLIP or our own saved text tower would be."""
    torch.save(state, path)
    return path


def write_torchscript(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """A TorchScript archive whose ``state_dict()`` has these keys, like OpenAI's ``.pt`` downloads.

    Each dotted key becomes nested modules holding the tensor as a buffer; OpenAI's archives also carry the
    int buffers ``input_resolution``, ``context_length`` and ``vocab_size``, added here too.
    """
    root = nn.Module()
    extras = {"input_resolution": torch.tensor(336), "context_length": torch.tensor(77),
              "vocab_size": torch.tensor(49408)}
    for key, value in (state | extras).items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, nn.Module())
            module = module.get_submodule(name)
        module.register_buffer(leaf, value)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        torch.jit.script(root).save(str(path))
    return path
