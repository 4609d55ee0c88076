"""Taichi objects that outlive the runtime they were made in (``td.init`` run again, as notebooks
and test suites do) must not touch the new runtime.

Taichi 1.7.4 alone fails the first check: an ndarray of an earlier runtime, collected after
``ti.init``, deletes whichever new ndarray took its address, and the next launch on that one
reads freed memory (a wrong value, an index error from garbage, or a segfault; this was the
rare crash of long test workers). Each check runs in a fresh interpreter, since the failure it
guards against can kill the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import gc, resource
    import numpy as np
    import taichi as ti
    import tidal as td

    kept, wrong = [], 0
    for round_ in range(150):
        td.init(arch="cpu", default_fp=td.f64, offline_cache=False)
        fresh = [ti.ndarray(ti.f64, shape=64) for _ in range(4)]
        for k, a in enumerate(fresh):
            a.fill(float(k))
        kept.clear()  # the earlier runtime's ndarrays are collected now, after td.init
        gc.collect()
        others = [ti.ndarray(ti.f64, shape=64) for _ in range(4)]  # may take freed addresses
        for o in others:
            o.fill(-1.0)
        wrong += sum(not np.all(a.to_numpy() == k) for k, a in enumerate(fresh))
        kept.extend(fresh)
    print("WRONG", wrong)

    # within one runtime an ndarray's memory is still freed when it is collected
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(40):
        a = ti.ndarray(ti.f64, shape=5_000_000)  # 40 MB, zero-filled (touched)
        a.fill(1.0)
        del a
        gc.collect()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print("GROWN_MB", round(grown_mb))
""")


def test_ndarrays_of_an_earlier_runtime_leave_the_new_one_alone(tmp_path):
    path = tmp_path / "lifetimes.py"  # Taichi reads kernel source from files
    path.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = dict(line.split() for line in r.stdout.splitlines()
                 if line.startswith(("WRONG", "GROWN_MB")))
    assert lines["WRONG"] == "0", r.stdout
    # 40 arrays of 40 MB one after the other: a leak would grow by 1.6 GB
    assert int(lines["GROWN_MB"]) < 400, r.stdout
