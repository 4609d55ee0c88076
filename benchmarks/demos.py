"""The gallery's MPM demo against Taichi's own mpm88 program, headless, in one run; and the time
from command to first frame of every demo, with a warm and a cold Taichi cache.

* fps: tidal's ``mpm`` demo (8,192 particles, 128 x 128 grid, ``dt = 2e-4``, 50 steps per frame:
  mpm88's sizes) run through :func:`tidal.demos.app.run` headless, drawing its view and panel
  every frame; and the ``mpm88.py`` that ships with Taichi (``taichi/examples/simulation``), run
  unmodified in a child process whose ``ti.GUI`` is made offscreen (``show_gui=False``) and
  stopped after the same number of frames, on the CPU backend (mpm88 asks for ``ti.gpu``,
  which on a machine with Mesa's software Vulkan would be the emulated GPU). Both draw every
  frame and write nothing to disk; both
  use every CPU thread; the first ``--warmup`` frames (compilation) are not timed. Printed: the
  frames per second of each and the ratio tidal / Taichi (target >= 0.9). The physics differ in
  one respect: mpm88 tracks each particle's volume ratio only, the demo's fluid keeps a
  deformation gradient (its elastic material needs one); both are weakly compressible fluids.
* start-up: ``python -m tidal.demos NAME --headless --frames 1`` in a fresh process, its wall
  time, once with the Taichi cache emptied (a new cache directory: cold) and once after it
  (warm). Targets (issue 15, for the MPM demo): 5 s warm, 20 s cold.

Timings need an otherwise idle machine (the load average is printed).

Usage: ``python benchmarks/demos.py [--frames 40] [--only fps|startup] [--demos mpm fit ...]``
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import taichi

MPM88 = Path(taichi.__file__).parent / "examples" / "simulation" / "mpm88.py"

# The child that runs Taichi's mpm88.py as it is, its GUI offscreen and stopped after N frames.
MPM88_CHILD = r"""
import runpy, sys, time
import taichi as ti
frames, warmup = int(sys.argv[2]), int(sys.argv[3])
stamps = []
class OffscreenGUI(ti.GUI):
    def __init__(self, *args, **kwargs):
        kwargs["show_gui"] = False
        super().__init__(*args, **kwargs)
    def show(self, file=None):
        super().show(file)
        stamps.append(time.perf_counter())
        if len(stamps) >= warmup + frames:
            self.running = False
ti.GUI = OffscreenGUI
_init = ti.init
def on_the_cpu(*args, **kwargs):  # mpm88 asks for ti.gpu, which is software Vulkan here
    kwargs["arch"] = ti.cpu
    return _init(*args[1:], **kwargs)
ti.init = on_the_cpu
runpy.run_path(sys.argv[1], run_name="__main__")
print("FRAME_S", (stamps[-1] - stamps[warmup - 1]) / frames)
"""


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def taichi_fps(frames: int, warmup: int) -> float:
    out = subprocess.run([sys.executable, "-c", MPM88_CHILD, str(MPM88), str(frames),
                          str(warmup)], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"mpm88 failed:\n{out.stderr[-2000:]}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("FRAME_S"))
    return 1.0 / float(line.split()[1])


def tidal_fps(frames: int, warmup: int) -> float:
    import tidal as td
    from tidal import demos
    from tidal.demos.app import run

    td.init(arch="cpu", default_fp=td.f32)
    demo = demos.demo("mpm")
    run(demo, headless=True, frames=warmup, quiet=True)
    result = run(demo, headless=True, frames=frames + 1, quiet=True)
    return result.fps


def startup(name: str, cache: str | None) -> float:
    env = dict(os.environ)
    if cache is not None:
        env["TI_OFFLINE_CACHE_FILE_PATH"] = cache
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tidal.demos", name, "--headless", "--frames",
                          "1"], capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"demo {name} failed:\n{out.stderr[-2000:]}")
    return wall


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", choices=["fps", "startup"], default=None)
    parser.add_argument("--demos", nargs="*", default=None, help="start-up of these demos "
                                                                 "(default: all)")
    args = parser.parse_args(argv)
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
          f"{platform.platform()}, cpu_count {os.cpu_count()}; taichi {taichi.__version__}; "
          f"load average {load()}")
    if args.only in (None, "startup"):
        from tidal import demos

        names = args.demos or demos.names()
        print(f"{'demo':12s} {'cold (s)':>9s} {'warm (s)':>9s}   command to first frame")
        for name in names:
            with tempfile.TemporaryDirectory() as cache:
                cold = startup(name, cache)
                warm = startup(name, cache)
            print(f"{name:12s} {cold:9.1f} {warm:9.1f}   load {load()}")
        sys.stdout.flush()
    if args.only in (None, "fps"):
        theirs = taichi_fps(args.frames, args.warmup)
        ours = tidal_fps(args.frames, args.warmup)
        print(f"MPM, 8,192 particles, 50 steps per frame, headless, {args.frames} frames: "
              f"tidal demo {ours:.2f} fps, Taichi mpm88 {theirs:.2f} fps, ratio "
              f"{ours / theirs:.2f} (target >= 0.9); load after {load()}")


if __name__ == "__main__":
    main()
