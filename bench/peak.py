"""Peak resident memory of a process, read so that it is that process's own.

``ru_maxrss`` is not: Linux carries a process's high-water mark across ``fork`` (and ``vfork``)
and ``exec``, so a command started by a benchmark that has just built a world and trained a
model reports the benchmark's peak whenever that is higher than its own (measured: a child of a
1 GB parent running ``/bin/true`` reports 979 MB). ``VmHWM`` in ``/proc/self/status`` belongs to
the process's own address space, which starts afresh at ``exec``; a command is therefore run
through a small launcher, whose own peak (about 15 MB) is all its child can inherit.

A command that forks processes of its own (a batch scoring its parts side by side) uses the sum
of their memory, which no single high-water mark shows (``wait4`` gives the largest process's).
The launcher therefore also samples, every 250 ms (reading a process's PSS walks its page
tables, a cost to the command; a first version sampled every 50 ms), the proportional set size (PSS: each shared
page counted once, split between the processes sharing it) summed over the command and all its
descendants; the peak reported is the larger of the two.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

_LAUNCHER = """
import os, resource, subprocess, sys, threading
limits = os.environ.pop("BENCH_LIMITS", "")
if limits:  # CPU seconds and MB of address space, for the command (inherited from here)
    seconds, megabytes = (int(v) for v in limits.split(","))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
    resource.setrlimit(resource.RLIMIT_AS, (megabytes * 2**20, megabytes * 2**20))
child = subprocess.Popen(sys.argv[2:])
tree_peak, done = [0], threading.Event()

def tree_kb():
    tree, todo = [], [child.pid]
    while todo:  # the command and its descendants, by each one's threads' children
        pid = todo.pop()
        tree.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            pass
    return total

def sample():
    while not done.wait(0.25):
        tree_peak[0] = max(tree_peak[0], tree_kb())

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
_, status, usage = os.wait4(child.pid, 0)
done.set()
sampler.join()
with open(sys.argv[1], "w") as f:
    f.write(str(max(usage.ru_maxrss, tree_peak[0])))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_mb() -> float:
    """This process's own peak resident memory, in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_measured(args: list[str], env: dict | None = None, cwd=None,
                 limits: tuple[int, int] | None = None) -> tuple[float, int, str, int]:
    """Run a command (in ``cwd``; within ``limits``: CPU seconds and MB of address space); its
    wall seconds, its own peak resident MB, its output (stdout and stderr) and its exit status."""
    if limits is not None:
        env = {**(os.environ if env is None else env), "BENCH_LIMITS": f"{limits[0]},{limits[1]}"}
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as out:
        peak_file = os.path.join(tmp, "peak")
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _LAUNCHER, peak_file, *args], env=env, cwd=cwd, stdout=out,
                              stderr=subprocess.STDOUT, text=True)
        seconds = time.perf_counter() - t
        out.seek(0)
        said = out.read()
        peak = int(open(peak_file).read()) // 1024 if os.path.exists(peak_file) else -1
    return seconds, peak, said, done.returncode
