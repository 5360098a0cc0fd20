"""The README's main job: ``python -m intermask_blender.commands.demo`` → ``out/demo.blend`` and ``out/demo.gif``.

It runs the real commands an animator would: ``intermask generate`` (worker process + bake onto the
two mannequins + save), then ``intermask preview`` on the saved clip for a GIF anyone can look at
without opening Blender. Each runs in its own process, as on the command line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

#: Worded like the captions the model was trained on (see vendor_models/captioner_phrases.py).
PROMPT = "two people dance salsa: the couple hold hands and face each other, the follow spins clockwise"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intermask_blender.commands.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=Path("out"))
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the shipped one)")
    args = parser.parse_args(argv)
    blend, clip, gif = (args.out_dir / name for name in ("demo.blend", "demo_clip.npz", "demo.gif"))
    generate = [sys.executable, "-m", "intermask_blender.commands.main", "generate", args.prompt, "--seconds", str(args.seconds),
                "--seed", str(args.seed), "--out", str(blend), "--save-clip", str(clip), "--json"]
    generate += ["--checkpoint", str(args.checkpoint)] if args.checkpoint else []
    done = subprocess.run(generate, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        print("demo: intermask generate failed (its message is above)", file=sys.stderr)
        return done.returncode
    summary = json.loads(done.stdout)
    preview = subprocess.run([sys.executable, "-m", "vendor_models", "preview", str(clip), "--out", str(gif)])
    if preview.returncode != 0:
        print("demo: intermask preview failed (its message is above)", file=sys.stderr)
        return preview.returncode
    print(f"prompt:  {args.prompt}")
    print(f"wrote:   {blend} ({summary['frames']} frames at {summary['fps']:g} fps; "
          f"actions {', '.join(summary['actions'])})")
    print(f"preview: {gif}")
    print(f"time:    generation {summary['generation_seconds']:.2f} s, bake {summary['bake_seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
