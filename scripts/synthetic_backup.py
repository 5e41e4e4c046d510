"""Writes a synthetic Home Assistant backup tar of about SIZE MiB, laid out as the Supervisor lays
one out (PAX outer tar, inner `*.tar.gz` members that are real gzip'd tars, `backup.json` written
last), with incompressible content so sizes stay what was asked for.

    python3 scripts/synthetic_backup.py SIZE_MIB OUT.tar
"""
import io
import json
import os
import sys
import tarfile
import tempfile

size_mib = int(sys.argv[1])
out = sys.argv[2]
members = {"homeassistant.tar.gz": size_mib * 3 // 4, "core_mosquitto.tar.gz": size_mib // 8}
members["share.tar.gz"] = size_mib - sum(members.values())
backup = {
    "slug": "5e1f0000", "version": 2, "name": f"Synthetic {size_mib} MiB",
    "date": "2026-11-23T02:00:00.000000+00:00", "type": "full", "supervisor_version": "2026.08.1",
    "extra": {}, "compressed": True, "protected": False,
    "homeassistant": {"version": "2026.8.3", "exclude_database": False, "size": size_mib},
    "folders": ["share"],
    "addons": [{"slug": "core_mosquitto", "name": "Mosquitto broker", "version": "6.5.1", "size": 0}],
    "repositories": ["core", "local"],
}


class Random(io.RawIOBase):
    """`left` bytes of fresh random data, made 1 MiB at a time."""

    def __init__(self, left):
        self.left = left

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left, 1 << 20)
        if n == 0:
            return 0
        b[:n] = os.urandom(n)
        self.left -= n
        return n


def inner_archive(path, mib):
    """A gzip'd tar holding one file of `mib` MiB (level 1: random data does not shrink)."""
    with tarfile.open(path, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("data/blob.bin")
        info.size = mib << 20
        t.addfile(info, io.BufferedReader(Random(info.size), 1 << 20))


with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(out))) as tmp, \
        tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
    for name, mib in members.items():
        path = os.path.join(tmp, name)
        inner_archive(path, mib)
        tar.add(path, arcname="./" + name)
        os.remove(path)
    raw = json.dumps(backup, indent=2).encode()
    info = tarfile.TarInfo("./backup.json")
    info.size = len(raw)
    tar.addfile(info, io.BytesIO(raw))
