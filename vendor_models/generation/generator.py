"""THE generation API used by the worker, the CLI and the evaluation: prompt → two-person clips.

``Generator.load`` reads a checkpoint folder (``vq.pt``, ``transformer.pt``, optional ``model.json`` card)
once; ``generate`` and ``react`` validate their input here, so every front end reports the same
``GenerationError`` codes (``protocol.ErrorCode``). Output clips are model space (Y-up, metres, 30 fps),
two people, with the prompt(s), seed, variation, model, guidance and steps in ``meta``.

Per-person prompts: the model has ONE text condition, so ``prompts=[A, B]`` are folded into one sentence,
``"<prompt>. The first person <A>. The second person <B>."`` (parts left out when empty) — the same
shape of sentence the captioner trains it on ("one person …, the other …").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.checkpoint import CheckpointError
from ..models.text.sentence_encoder import TextEncoderError, load_text_encoder, non_english_warning
from ..models.transformer.persist import file_key, load_transformer
from ..models.vq.persist import load_vq
from ..motion.canonical import canonicalise
from ..motion.clip_file import Clip, stack_people
from ..motion.features import clip_from_features, pair_features, smooth_decoded, with_detected_contacts
from ..motion.model_store import OFFICIAL_KIND
from ..motion.protocol import (
    DEFAULT_GUIDANCE,
    DEFAULT_REACT_STEPS,
    DEFAULT_STEPS,
    FRAMES_PER_TOKEN,
    MAX_PROMPT_CHARS,
    MAX_SECONDS,
    MAX_VARIATIONS,
    MIN_SECONDS,
    ErrorCode,
    SamplerSettings,
)
from ..motion.skeleton import FPS
from .errors import Cancelled, GenerationError
from .reaction import into_partner_world, partner_window
from .sampling import DEFAULT_TOP_K, sample_tokens

__all__ = ["DEFAULT_CHECKPOINT", "Cancelled", "GenerationError", "GenerationOutput", "Generator", "select_device"]

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "default"
MAX_STEPS = 100

#: progress(step, total, stage) — stage is "sampling" or "decoding"
ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


@dataclass
class GenerationOutput:
    clips: list[Clip]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def flush_denormals() -> None:
    """Trained weights produce denormal floats in the residual stream; on x86 CPUs each one costs a
    microcode assist (sampling ran 1.2-3x slower). Flushing them to zero changes nothing a motion could
    show. The flag lives in the calling thread's floating-point control register, so it is set by the
    thread that runs the model, at every job: the worker loads on one thread and samples on another.
    numpy's float limits are read first: read afterwards, numpy warns that the smallest subnormal is zero."""
    np.finfo(np.float32), np.finfo(np.float64)
    torch.set_flush_denormal(True)


def select_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. A forced device that is absent is a clear error."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GenerationError(ErrorCode.BAD_REQUEST, f"device {name!r} was asked for but this torch sees no CUDA GPU")
    if name == "mps" and not has_mps:
        raise GenerationError(ErrorCode.BAD_REQUEST, "device 'mps' was asked for but Apple MPS is not available")
    if name != "cpu" and not name.startswith(("cuda", "mps")):
        raise GenerationError(ErrorCode.BAD_REQUEST, f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)


def frames_for(seconds: float) -> int:
    """Clip length in frames for ``seconds``: nearest multiple of 4 (one token step), at least 4."""
    return max(FRAMES_PER_TOKEN, int(round(seconds * FPS / FRAMES_PER_TOKEN)) * FRAMES_PER_TOKEN)


def combine_prompts(prompt: str, prompts: list[str] | None) -> str:
    """The one text condition for a shared prompt and optional per-person prompts (see module doc)."""
    parts = [prompt.strip().rstrip(".")] if prompt.strip() else []
    for label, text in zip(("The first person", "The second person"), prompts or []):
        if text.strip():
            parts.append(f"{label} {text.strip().rstrip('.')}")
    return ". ".join(parts) + ("." if parts else "")


def _check_prompt(prompt: str, prompts: list[str] | None, warnings: list[str]) -> str:
    if prompts is not None and (len(prompts) not in (0, 2) or not all(isinstance(p, str) for p in prompts)):
        raise GenerationError(ErrorCode.BAD_PROMPT, f"per-person prompts must be two strings [A, B], got {prompts!r}")
    text = combine_prompts(prompt if isinstance(prompt, str) else "", prompts)
    if not text.strip(". "):
        raise GenerationError(ErrorCode.BAD_PROMPT, "the prompt is empty; describe the interaction in a few words")
    if len(text) > MAX_PROMPT_CHARS:
        text = text[:MAX_PROMPT_CHARS]
        warnings.append(f"the prompt was longer than {MAX_PROMPT_CHARS} characters and was cut to that length")
    language = non_english_warning(text)
    if language:
        warnings.append(language)
    return text


def _checked(sampler: SamplerSettings, guidance_default: float, steps_default: int) -> SamplerSettings:
    """The settings with unset fields taken from the model, or a ``bad_request`` error saying what is wrong."""
    resolved = sampler.resolved(guidance_default, steps_default)
    variations, guidance, steps = resolved.variations, float(resolved.guidance or 0.0), resolved.steps or 0
    if not 1 <= int(variations) <= MAX_VARIATIONS:
        raise GenerationError(ErrorCode.BAD_REQUEST, f"variations must be 1..{MAX_VARIATIONS}, got {variations}")
    if not (np.isfinite(guidance) and 0.0 <= guidance <= 20.0):
        raise GenerationError(ErrorCode.BAD_REQUEST, f"guidance must be between 0 and 20, got {guidance}")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise GenerationError(ErrorCode.BAD_REQUEST, f"steps must be 1..{MAX_STEPS}, got {steps}")
    return SamplerSettings(int(resolved.seed), int(variations), guidance, int(steps))


class Generator:
    """A loaded model (text encoder + Inter-M Transformer + VQ-VAE) on one device."""

    def __init__(self, vq: Any, transformer: Any, encoder: Any, device: torch.device, name: str,
                 card: dict[str, Any]) -> None:
        self.vq = vq
        self.transformer = transformer
        self.encoder = encoder
        self.torch_device = device
        self.device = str(device)
        self.name = name
        self.card = card

    @classmethod
    def load(cls, checkpoint_dir: str | Path = DEFAULT_CHECKPOINT, device: str = "auto") -> "Generator":
        """Load a model folder — ours, or an imported official one (its card's ``kind``); a missing or
        corrupt file is a ``GenerationError`` naming it."""
        folder = Path(checkpoint_dir)
        dev = select_device(device)
        card: dict[str, Any] = {}
        card_file = folder / "model.json"
        try:
            if card_file.is_file():
                card = json.loads(card_file.read_text(encoding="utf-8"))
            if card.get("kind") == OFFICIAL_KIND:
                from ..models.official.model_folder import load_official_model

                official = load_official_model(folder, dev)
                vq, transformer, encoder = official.codec, official.transformer, official.encoder
            else:
                vq, transformer, encoder = _load_ours(folder, dev)
        except json.JSONDecodeError as exc:
            raise GenerationError(ErrorCode.CHECKPOINT, f"model card {card_file} is not valid JSON ({exc})") from exc
        except (CheckpointError, TextEncoderError) as exc:
            raise GenerationError(ErrorCode.CHECKPOINT, str(exc)) from exc
        name = str(card.get("name") or folder.name)
        return cls(vq, transformer, encoder, dev, name, card)

    # -- public API --------------------------------------------------------------------------------

    def sampler_defaults(self, react: bool = False) -> tuple[float, int]:
        """(guidance, steps) this model uses when the caller leaves them unset: its card's, else ours."""
        card = self.card.get("sampler", {})
        steps = card.get("react_steps" if react else "steps", DEFAULT_REACT_STEPS if react else DEFAULT_STEPS)
        return float(card.get("guidance", DEFAULT_GUIDANCE)), int(steps)

    @property
    def top_k(self) -> float:
        """Share of the codebook's logits cut before sampling (keep ``ceil((1 - top_k)·K)``): the card's, else 0.9."""
        return float(self.card.get("sampler", {}).get("top_k", DEFAULT_TOP_K))

    def generate(self, prompt: str, *, prompts: list[str] | None = None, seconds: float = 6.0,
                 sampler: SamplerSettings = SamplerSettings(),
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> GenerationOutput:
        """``sampler.variations`` two-person clips of ``seconds`` for the prompt; variation v uses seed + v."""
        flush_denormals()
        warnings: list[str] = []
        text = _check_prompt(prompt, prompts, warnings)
        if not (isinstance(seconds, (int, float)) and MIN_SECONDS <= float(seconds) <= MAX_SECONDS):
            raise GenerationError(ErrorCode.BAD_SECONDS, f"seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {seconds}")
        sampler = _checked(sampler, *self.sampler_defaults())
        frames = frames_for(float(seconds))
        meta = {"prompt": prompt, "prompts": list(prompts or []), "text": text, **self._sampler_meta(sampler),
                "mode": "generate"}
        ids, timings = self._sample(text, frames // FRAMES_PER_TOKEN, sampler, None, progress, should_stop)
        started = time.perf_counter()
        feats = self._decode(ids.reshape(-1, *ids.shape[2:])).reshape(ids.shape[0], 2, frames, -1)
        clips = [_placed(clip_from_features(np.moveaxis(feats[v], 0, 1), FPS, dict(meta, variation=v)))
                 for v in range(len(feats))]
        return self._finish(clips, warnings, timings, started, progress)

    def react(self, partner: Clip, prompt: str, *, sampler: SamplerSettings = SamplerSettings(),
              progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> GenerationOutput:
        """The other person for a one-person ``partner`` clip, in the partner's world frame.

        The partner is person A of every output clip exactly as given (cut to whole token steps and at
        most ``MAX_SECONDS``); its tokens stay fixed while only person B is decoded.
        """
        flush_denormals()
        warnings: list[str] = []
        text = _check_prompt(prompt, None, warnings)
        sampler = _checked(sampler, *self.sampler_defaults(react=True))
        window = partner_window(partner, warnings)
        frames = window.num_frames - 1
        codes = self.vq.encode(self.vq.normalise(torch.from_numpy(pair_features(window)[:, 0]).to(self.torch_device)[None]))
        meta = {"prompt": prompt, "prompts": [], "text": text, **self._sampler_meta(sampler), "mode": "react",
                "partner": dict(partner.meta)}
        ids, timings = self._sample(text, frames // FRAMES_PER_TOKEN, sampler, codes[0], progress, should_stop)
        started = time.perf_counter()
        feats = self._decode(ids[:, 1])                                       # [V, frames, 262]
        person_a = Clip(window.positions[:frames], window.rotations[:frames], window.contacts[:frames], FPS)
        clips = []
        for v in range(len(feats)):
            other = into_partner_world(clip_from_features(feats[v], FPS), window)
            clips.append(stack_people([person_a, other], dict(meta, variation=v)))
        return self._finish(clips, warnings, timings, started, progress)

    # -- internals ---------------------------------------------------------------------------------

    def _sampler_meta(self, sampler: SamplerSettings) -> dict[str, Any]:
        """What a clip records about how it was made (variation v adds its own index)."""
        return {"seed": sampler.seed, "model": self.name, "guidance": sampler.guidance, "steps": sampler.steps}

    def _sample(self, text: str, steps_l: int, sampler: SamplerSettings, partner: torch.Tensor | None,
                progress: ProgressFn | None, should_stop: StopFn | None) -> tuple[torch.Tensor, dict[str, float]]:
        """Token maps for the checked ``sampler`` settings (every field set)."""
        started = time.perf_counter()
        vector = self.encoder.encode([text]).to(self.torch_device).expand(sampler.variations, -1)
        encoded = time.perf_counter()
        step_progress = None if progress is None else (lambda i, n: progress(i, n, "sampling"))
        ids = sample_tokens(self.transformer, vector, steps_l,
                            seeds=[sampler.seed + v for v in range(sampler.variations)], steps=int(sampler.steps or 0),
                            guidance=float(sampler.guidance or 0.0), top_k=self.top_k, partner=partner,
                            progress=step_progress, should_stop=should_stop)
        done = time.perf_counter()
        return ids, {"text_s": encoded - started, "sampling_s": done - encoded}

    @torch.inference_mode()
    def _decode(self, codes: torch.Tensor) -> np.ndarray:
        """Code maps [N, 5, L] → de-normalised features [N, 4L, 262] (numpy), decoder noise smoothed;
        a codec without a contact head gets its contacts from the smoothed positions."""
        feats = smooth_decoded(self.vq.denormalise(self.vq.decode(codes)).float().cpu().numpy())
        return feats if self.vq.predicts_contacts else with_detected_contacts(feats)

    def _finish(self, clips: list[Clip], warnings: list[str], timings: dict[str, float], started: float,
                progress: ProgressFn | None) -> GenerationOutput:
        timings["decode_s"] = time.perf_counter() - started
        timings["total_s"] = sum(timings.values())
        if self.torch_device.type == "cuda":
            timings["cuda_peak_mb"] = torch.cuda.max_memory_allocated(self.torch_device) / 2**20
        if progress is not None:
            progress(1, 1, "decoding")
        for clip in clips:
            clip.meta["warnings"] = list(warnings)
        return GenerationOutput(clips, warnings, {k: round(v, 4) for k, v in timings.items()})


def _load_ours(folder: Path, dev: torch.device) -> tuple[Any, Any, Any]:
    """(VQ-VAE, transformer, text encoder) of one of our checkpoint folders, checked to belong together."""
    vq, _ = load_vq(folder / "vq.pt", dev)
    transformer, encoder_name, record = load_transformer(folder / "transformer.pt", dev)
    encoder = load_text_encoder(encoder_name)
    if transformer.config.num_codes != vq.cfg.codebook_size:
        raise CheckpointError(f"{folder}: transformer.pt expects {transformer.config.num_codes} "
                              f"codes but vq.pt has {vq.cfg.codebook_size}; they were not trained together")
    trained_on = record.meta.get("data", {}).get("vq_sha1")
    if trained_on and trained_on != file_key(folder / "vq.pt"):
        raise CheckpointError(f"{folder / 'transformer.pt'} was trained on another VQ-VAE than "
                              f"{folder / 'vq.pt'} (its tokens would mean something else); ship the pair together")
    return vq, transformer, encoder


def _placed(clip: Clip) -> Clip:
    """The pair moved rigidly so person A starts at the origin facing +Z, both on one floor at Y = 0.

    The model only approximates its canonical frame, and the bake puts the clip's origin at person A's
    rig, so without this A would start away from where the animator placed it. Contacts are kept as
    predicted; the pair's relative placement is unchanged.
    """
    positions, rotations, _ = canonicalise(clip.positions, clip.rotations, shared_floor=True)
    return Clip(positions, rotations, clip.contacts, clip.fps, clip.meta)
