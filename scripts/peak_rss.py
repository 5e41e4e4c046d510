"""Runs a command and prints `peak_rss_kib seconds exit_code` for it (and its children) to stderr's
last line, so benchmarks need no /usr/bin/time.

    python3 scripts/peak_rss.py CMD ARGS...
"""
import resource
import subprocess
import sys
import time

start = time.monotonic()
code = subprocess.call(sys.argv[1:])
elapsed = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"PEAK {peak} {elapsed:.2f} {code}", file=sys.stderr)
sys.exit(code)
