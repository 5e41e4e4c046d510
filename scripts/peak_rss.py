"""Runs a command and prints `peak_rss_kib seconds exit_code` for it (and its children) to stderr's
last line, so benchmarks need no /usr/bin/time.

    python3 scripts/peak_rss.py CMD ARGS...
    PEAK_TREE=1 python3 scripts/peak_rss.py CMD ARGS...

By default the peak is the largest single process's (getrusage). With PEAK_TREE=1 the process
tree is sampled every 10 ms and the peak is of the sum of every process in it at once: Lifeboat
and the rclone processes it runs, together.
"""
import os
import resource
import subprocess
import sys
import time


def tree_rss_kib(root):
    """The VmRSS of `root` and every process descending from it, in KiB."""
    parents = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            parents[int(pid)] = ppid
        except (OSError, IndexError, ValueError):
            continue
    family, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grew = True
    total = 0
    for pid in family:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


start = time.monotonic()
if os.environ.get("PEAK_TREE"):
    p = subprocess.Popen(sys.argv[1:])
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        time.sleep(0.01)
    code = p.returncode
else:
    code = subprocess.call(sys.argv[1:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
elapsed = time.monotonic() - start
print(f"PEAK {peak} {elapsed:.2f} {code}", file=sys.stderr)
sys.exit(code)
