"""Writes a synthetic Home Assistant backup tar of about SIZE bytes, laid out as the Supervisor
lays one out (PAX outer tar, backup.json, inner *.tar.gz members), with incompressible content.

    python3 scripts/synthetic_backup.py SIZE_MIB OUT.tar
"""
import io
import json
import os
import sys
import tarfile

size_mib = int(sys.argv[1])
out = sys.argv[2]
members = {"homeassistant.tar.gz": size_mib * 3 // 4, "core_mosquitto.tar.gz": size_mib // 8}
members["share.tar.gz"] = size_mib - sum(members.values())
backup = {
    "slug": "5e1f0000", "version": 2, "name": f"Synthetic {size_mib} MiB",
    "date": "2026-11-23T02:00:00.000000+00:00", "type": "full", "supervisor_version": "2026.08.1",
    "extra": {}, "compressed": True, "protected": False,
    "homeassistant": {"version": "2026.8.3", "exclude_database": False, "size": size_mib},
    "folders": ["share"], "addons": [{"slug": "core_mosquitto", "name": "Mosquitto broker", "version": "6.5.1", "size": 0}],
    "repositories": ["core", "local"],
}


class Random(io.RawIOBase):
    """Reads `left` pseudo-random bytes without holding them all."""

    def __init__(self, left):
        self.left = left
        self.block = os.urandom(1 << 20)
        self.turn = 0

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left, len(self.block))
        if n == 0:
            return 0
        self.turn = (self.turn + 1) % 251
        b[:n] = bytes([(x + self.turn) & 0xFF for x in self.block[:16]]) + self.block[16:n] if n > 16 else self.block[:n]
        self.left -= n
        return n


with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
    for name, mib in members.items():
        info = tarfile.TarInfo("./" + name)
        info.size = mib << 20
        tar.addfile(info, io.BufferedReader(Random(info.size), 1 << 20))
    raw = json.dumps(backup, indent=2).encode()
    info = tarfile.TarInfo("./backup.json")
    info.size = len(raw)
    tar.addfile(info, io.BytesIO(raw))
