"""``python -m tidal.demos [NAME] [--headless] [--frames N] [--out DIR] [--record FILE]``."""

from __future__ import annotations

import argparse
import sys
import time

STARTED = time.perf_counter()


def main(argv=None) -> int:
    from tidal import demos

    parser = argparse.ArgumentParser(prog="python -m tidal.demos",
                                     description="tidal's demo gallery")
    parser.add_argument("name", nargs="?", help="the demo to run (none: list them)")
    parser.add_argument("--headless", action="store_true", help="no window")
    parser.add_argument("--frames", type=int, default=None, help="stop after N frames")
    parser.add_argument("--out", default=None, help="write PNG frames into this directory")
    parser.add_argument("--record", default=None, help="write a .gif or .mp4")
    parser.add_argument("--arch", default="cpu", help="Taichi backend (cpu, vulkan, cuda)")
    args = parser.parse_args(argv)
    if args.name is None:
        print("tidal demos (python -m tidal.demos NAME):")
        for name in demos.names():
            print(f"  {name:12s} {demos.demo_class(name).summary}")
        return 0
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be at least 1")
    import tidal as td
    from tidal.demos.app import run

    cls = demos.demo_class(args.name)
    td.init(arch=args.arch, default_fp=td.f32)
    result = run(cls(), headless=args.headless, frames=args.frames, out=args.out,
                 record=args.record, started=STARTED)
    rate = f", {result.fps:.1f} fps" if result.frames > 1 else ""
    print(f"{args.name}: {result.frames} frames, first after {result.first_frame_s:.1f} s{rate}"
          + (f"; frames in {args.out}" if args.out else "")
          + (f"; video {args.record}" if args.record else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
