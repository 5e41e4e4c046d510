"""Two backups of the same size for measuring what the restore-readiness report costs the single
pass (scripts/bench.sh):

    python3 readiness_bench.py WITH.tar WITHOUT.tar MIB

Both hold a Home Assistant archive with a recorder database of MIB MiB (random, so gzip cannot
shrink it) and the .storage files of a large home (400 config entries, 3 000 devices, 20 000
entities, 30 users with tokens). In WITHOUT.tar the report's files have other names (one letter
changed), so the walk reads the same bytes and parses nothing: the difference in time is the report.
"""
import io
import json
import os
import sys
import tarfile

WANTED = ["data/.storage/core.config_entries", "data/.storage/core.device_registry",
          "data/.storage/core.entity_registry", "data/.storage/auth", "data/configuration.yaml",
          "data/secrets.yaml", "data/.HA_VERSION"]


def storage(key, data):
    return json.dumps({"version": 1, "minor_version": 1, "key": key, "data": data}).encode()


def files():
    entries = [{"entry_id": f"e{i}", "domain": ["hue", "spotify", "zha", "met", "mqtt"][i % 5],
                "title": f"Entry {i}", "source": "user", "options": {}, "unique_id": str(i),
                "data": {"host": f"192.168.1.{i % 250}", "token": {"access_token": "x" * 200}}
                if i % 5 == 1 else {"host": f"192.168.1.{i % 250}"}} for i in range(400)]
    devices = [{"id": f"d{i}", "name": f"Device {i}", "manufacturer": "Acme", "model": "M1",
                "identifiers": [["zha", f"00:11:22:33:44:{i % 256:02x}"]],
                "connections": [["zigbee", f"00:11:22:33:44:{i % 256:02x}"]]} for i in range(3000)]
    entities = [{"entity_id": f"sensor.s{i}", "unique_id": f"u{i}", "platform": "zha",
                 "device_id": f"d{i % 3000}", "original_name": f"Sensor {i}",
                 "capabilities": {"state_class": "measurement"}} for i in range(20000)]
    users = [{"id": f"u{i}", "name": f"User {i}", "system_generated": i == 0} for i in range(30)]
    tokens = [{"id": f"t{i}", "token_type": "normal", "token": "t" * 128, "jwt_key": "j" * 128}
              for i in range(300)]
    return {
        WANTED[0]: storage("core.config_entries", {"entries": entries}),
        WANTED[1]: storage("core.device_registry", {"devices": devices, "deleted_devices": []}),
        WANTED[2]: storage("core.entity_registry", {"entities": entities}),
        WANTED[3]: storage("auth", {"users": users, "refresh_tokens": tokens}),
        WANTED[4]: b"default_config:\nhttp:\n  ssl_certificate: /ssl/fullchain.pem\n" * 50,
        WANTED[5]: b"api_key: x\n" * 100,
        WANTED[6]: b"2026.11.2",
    }


class Random(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = os.urandom(n)
        self.left -= n
        return n


def backup(out, mib, rename):
    inner_path = out + ".inner.tar.gz"
    with tarfile.open(inner_path, "w:gz", compresslevel=1) as inner:
        for name, data in files().items():
            if rename:
                name = name[:-1] + ("x" if name[-1] != "x" else "y")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            inner.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("data/home-assistant_v2.db")
        info.size = mib << 20
        inner.addfile(info, io.BufferedReader(Random(info.size), 1 << 20))
    meta = json.dumps({"slug": "b3nch000", "name": "Bench", "date": "2026-11-30T03:00:00+00:00",
                       "type": "full", "version": 2, "protected": False, "compressed": True,
                       "homeassistant": {"version": "2026.11.2", "exclude_database": False},
                       "folders": [], "addons": []}).encode()
    with tarfile.open(out, "w:") as outer:
        outer.add(inner_path, arcname="./homeassistant.tar.gz")
        info = tarfile.TarInfo("./backup.json")
        info.size = len(meta)
        outer.addfile(info, io.BytesIO(meta))
    os.remove(inner_path)


if __name__ == "__main__":
    with_report, without, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backup(with_report, mib, rename=False)
    backup(without, mib, rename=True)
