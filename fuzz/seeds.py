#!/usr/bin/env python3
"""Seeds for the fuzz targets whose bodies are in src/fuzzing.rs: small real inputs, one folder per
target under the folder given (scripts/fuzz.sh passes target/fuzz-seeds).

    python3 fuzz/seeds.py OUT_DIR

The real archives come from tests/data; the age files are made with the `age` command to the
fuzzing identity's public half (src/fuzzing.rs, AGE_IDENTITY); the rest is written here.
"""
import gzip
import io
import json
import pathlib
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
AGE_RECIPIENT = "age1u368sxunz0ge3fut5ht6u2x6zuw3fave7esrzw53qv2xxxp34dlqauf3r4"
# Another recipient (its private half was thrown away): a file for two recipients.
OTHER_RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def tar_of(members, fmt=tarfile.USTAR_FORMAT):
    """A tar of (name, bytes or None for a folder, extra TarInfo fields) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, data, extra in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            for k, v in extra.items():
                setattr(info, k, v)
            if data is None and "type" not in extra:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            elif data is None:
                t.addfile(info)
            else:
                info.size = len(data)
                info.mode = extra.get("mode", 0o644)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def members_of(archive, wanted):
    """The named members of a tar in tests/data, as (name, bytes)."""
    with tarfile.open(DATA / archive) as t:
        return [(m.name, t.extractfile(m).read()) for m in t if m.name in wanted]


def write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def age(plain, *recipients, armor=False):
    args = ["age"] + (["-a"] if armor else [])
    for r in recipients or (AGE_RECIPIENT,):
        args += ["-r", r]
    return subprocess.run(args, input=plain, capture_output=True, check=True).stdout


def seed_age(out):
    d = out / "age_open"
    write(d, "empty.age", age(b""))
    write(d, "one-byte.age", age(b"x"))
    write(d, "chunk.age", age(bytes(i % 251 for i in range(64 << 10))))
    write(d, "chunk-and-one.age", age(bytes(i % 251 for i in range((64 << 10) + 1))))
    write(d, "two-recipients.age", age(b"two recipients", OTHER_RECIPIENT, AGE_RECIPIENT))
    write(d, "other-key.age", age(b"not for us", OTHER_RECIPIENT))
    write(d, "armored.age", age(b"armored", armor=True))
    backup = (DATA / "ha-core" / "ha-2024.3.3-legacy.tar").read_bytes()
    write(d, "backup.tar.age", age(backup))


def seed_extract(out):
    d = out / "extract"
    write(d, "ha-legacy.tar", (DATA / "ha-core" / "ha-2024.3.3-legacy.tar").read_bytes())
    write(d, "plain.tar", tar_of([
        ("./backup.json", b'{"slug":"s"}', {}),
        ("data", None, {}),
        ("data/f.txt", b"hello", {"mode": 0o4755}),
    ]))
    write(d, "links.tar", tar_of([
        ("l", None, {"type": tarfile.SYMTYPE, "linkname": "../canary"}),
        ("l/x", b"through", {}),
        ("h", None, {"type": tarfile.LNKTYPE, "linkname": "data/f.txt"}),
        ("abs", None, {"type": tarfile.SYMTYPE, "linkname": "/tmp"}),
    ]))
    write(d, "climb.tar", tar_of([("a/../../escape", b"x", {}), ("/etc/x", b"y", {})]))
    long = "d/" + "n" * 120 + "/file-" + "é" * 40
    write(d, "gnu-long.tar", tar_of([(long, b"long", {}), ("lnk", None, {
        "type": tarfile.SYMTYPE, "linkname": "t" * 150})], tarfile.GNU_FORMAT))
    write(d, "pax.tar", tar_of([(long, b"pax", {"pax_headers": {"comment": "c"}}),
                                ("fifo", None, {"type": tarfile.FIFOTYPE})], tarfile.PAX_FORMAT))


def seed_strip(out):
    d = out / "strip"
    write(d, "ha-v2.tar", (DATA / "ha-core" / "ha-2026.2.3-encrypted.tar").read_bytes())
    small = ["./backup.json", "a0d7b954_nodered.tar.gz"]
    for kind in ["plain", "v2", "v3"]:
        members = members_of(f"supervisor-style/full-{kind}.tar", small)
        write(d, f"supervisor-{kind}.tar", tar_of([(n, b, {}) for n, b in members]))
        long = [("./backup.json", members[0][1], {})] + [
            ("a" * 110 + ".tar.gz", members[1][1], {})]
        write(d, f"supervisor-{kind}-gnu.tar", tar_of(long, tarfile.GNU_FORMAT))
        pax = [(n, b, {"pax_headers": {"comment": "kept"}}) for n, b, _ in long]
        write(d, f"supervisor-{kind}-pax.tar", tar_of(pax, tarfile.PAX_FORMAT))


def seed_content(out):
    d = out / "content"
    folder = tar_of([("f", None, {}), ("f/a.txt", b"a" * 100, {}),
                     ("f/l", None, {"type": tarfile.SYMTYPE, "linkname": "a.txt"})])
    pg = (b"--\n-- PostgreSQL database cluster dump\n--\n\\connect template1\n"
          b"CREATE DATABASE halo;\n\\connect halo\n"
          b"COPY public.states (id, entity) FROM stdin;\n1\tsensor.a\n2\tsensor.b\n\\.\n"
          b"COPY \"My Schema\".\"we\"\"ird\" (x) FROM stdin;\n7\n\\.\n"
          b"\\connect -reuse-previous=on \"dbname='we''ird'\"\n"
          b"COPY public.t (x) FROM stdin;\n7\n\\.\n"
          b"--\n-- PostgreSQL database cluster dump complete\n--\n\n\\unrestrict abc\n")
    maria = b"-- MariaDB dump 10.19\n--\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (1);\n-- Dump completed on 2026-01-01\n"
    # First byte: bit 0 dump, bit 1 gzip, bits 2-3 tool (1 postgres, 2 mariadb), high bits piece size.
    write(d, "folder.tar", bytes([0x30]) + folder)
    write(d, "folder.tar.gz", bytes([0x32]) + gzip.compress(folder, mtime=0))
    write(d, "pg.sql", bytes([0x75]) + pg)
    write(d, "pg-sniffed.sql.gz", bytes([0x03]) + gzip.compress(pg, mtime=0))
    write(d, "maria.sql", bytes([0x29]) + maria)
    write(d, "other.out", bytes([0x01]) + b"just output\n")


def seed_manifest(out):
    d = out / "manifest"
    cid = "20261123T101500Z-02dc63e3"
    t = "2026-11-23T10:15:00Z"
    base = {
        "format": 1, "copy_id": cid, "object": f"{cid}.tar.age", "created": t,
        "lifeboat_version": "0.1.0", "verified": t, "ha_key_fingerprint": "ha:0123456789abcdef",
        "backup": {"slug": "02dc63e3", "name": "Automatic backup", "date": t, "type": "partial",
                   "protected": True, "homeassistant": {"version": "2026.2.3", "size": 0.5},
                   "folders": ["share"], "addons": [{"slug": "core_mosquitto", "name": "Mosquitto",
                                                     "version": "6.4.1", "size": 0.1}]},
        "plain": {"size": 30720, "sha256": "ab" * 32},
        "stored": {"size": 31000, "sha256": "cd" * 32},
        "encryption": {"scheme": "age", "recipients": ["age1…"], "passphrase": False},
        "readiness": {"looked_inside": True, "reauth": 1, "hardware": 0, "network": 2,
                      "missing": 0, "unknown": 0},
        "source": "home",
    }
    name = f"{cid}.manifest.json\n".encode()
    write(d, "ha.json", name + json.dumps(base, indent=2).encode())
    dump = dict(base, object=f"{cid}.sql.gz.age", content={
        "kind": "dump", "compression": "gzip", "tool": "postgres", "bytes": 1234,
        "closing_line": "-- PostgreSQL database dump complete", "tables": {"halo/public.t": 3}})
    write(d, "dump.json", name + json.dumps(dump).encode())
    folder = dict(base, object=f"{cid}.tar.gz.age", content={
        "kind": "folder", "compression": "gzip", "bytes": 10240, "files": 3, "folders": 1,
        "links": 0, "file_bytes": 100})
    write(d, "folder.json", name + json.dumps(folder).encode())
    write(d, "hostile.json", b"../x.manifest.json\n" + json.dumps(dict(base, object="..")).encode())


def seed_rclone(out):
    d = out / "rclone_conf"
    write(d, "drive.conf", b"[gdrive]\ntype = drive\nscope = drive\n"
          b'token = {"access_token":"x","token_type":"Bearer","expiry":"2026-01-01T00:00:00Z"}\n'
          b"team_drive = \n\n[nas]\ntype = sftp\nhost = 192.168.1.2\nuser = me\nkey_file = ~/.ssh/id\n")
    write(d, "one.conf", b"# kept\n; also\n[b2]\ntype = b2\naccount = a\nkey = k\n")
    write(d, "hostile.conf", b"[evil]\ntype = sftp\nssh = sh -c 'id'\n"
          b"[evil2]\ntype = alias\nremote = :sftp,ssh=\"sh\":/\n")
    write(d, "webdav.conf", b"[dav]\r\ntype = webdav\r\nurl = https://x/dav\r\n"
          b"bearer_token_command = cat /x\r\n  [ spaced ]  \r\ntype=local\r\n")
    write(d, "encrypted.conf", b"RCLONE_ENCRYPT_V0:\nabcdef\n")


def seed_dav(out):
    d = out / "dav_xml"
    write(d, "nextcloud.xml", b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">
 <d:response><d:href>/remote.php/dav/files/alice/HA%20backups/</d:href>
  <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/remote.php/dav/files/alice/HA%20backups/a%20b.tar.age</d:href>
  <d:propstat><d:prop><d:resourcetype/><d:getcontentlength>42</d:getcontentlength></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>""")
    write(d, "apache.xml", b"""<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">
<D:response xmlns:lp1="DAV:"><D:href>https://nas.local/remote.php/dav/files/alice/HA%20backups/x%2Fy&amp;z&#x41;.age</D:href>
<D:propstat><D:prop><lp1:resourcetype><D:collection></D:collection></lp1:resourcetype></D:prop></D:propstat>
</D:response></D:multistatus>""")
    write(d, "bare.xml", b"<multistatus><response><href>/remote.php/dav/files/alice/HA%20backups/..</href></response>"
          b"<response><href>/remote.php/dav/files/alice/HA%20backups/%2e%2e%2fx</href></response></multistatus>")


def main():
    out = pathlib.Path(sys.argv[1])
    for seed in [seed_age, seed_extract, seed_strip, seed_content, seed_manifest, seed_rclone, seed_dav]:
        seed(out)


if __name__ == "__main__":
    main()
