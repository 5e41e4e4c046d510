"""The Python securetar library, as the peer `scripts/bench.sh` measures Lifeboat against.

    python3 securetar_peer.py protect PLAIN.tar OUT.tar PASSWORD [2|3]   # every inner *.tar.gz → SecureTar v3 (or v2)
    python3 securetar_peer.py walk BACKUP.tar PASSWORD             # decrypt every inner archive, walk it

`walk` does what `lifeboat inspect --ha-key` does to a protected backup: reads the outer tar once,
decrypts each inner archive, gunzips it and reads every member to its end. It prints the number of
members and bytes it read.
"""
import io
import json
import sys
import tarfile

from securetar import SecureTarEncryptStream, SecureTarFile, SecureTarRootKeyContext


def protect(plain, out, password, version=3):
    context = SecureTarRootKeyContext(password)
    with tarfile.open(plain, "r:") as src, tarfile.open(out, "w:", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            data = src.extractfile(member) if member.isfile() else None
            if member.name.endswith("backup.json"):
                meta = json.load(data)
                meta["protected"] = True
                raw = json.dumps(meta).encode()
                member.size = len(raw)
                dst.addfile(member, io.BytesIO(raw))
            elif member.name.endswith(".tar.gz"):
                with SecureTarEncryptStream(
                    data,
                    create_version=version,
                    derived_key_id=member.name,
                    plaintext_size=member.size,
                    root_key_context=context,
                ) as encrypted:
                    member.size = encrypted.ciphertext_size
                    dst.addfile(member, encrypted)
            else:
                dst.addfile(member, data)


def walk(backup, password):
    members = 0
    read = 0
    with tarfile.open(backup, "r|") as outer:
        for member in outer:
            if not member.name.endswith(".tar.gz"):
                continue
            inner = outer.extractfile(member)
            with SecureTarFile(fileobj=inner, password=password) as tar:
                for m in tar:
                    members += 1
                    f = tar.extractfile(m)
                    if f is None:
                        continue
                    while chunk := f.read(1 << 20):
                        read += len(chunk)
    print(f"{members} members, {read} bytes")


if __name__ == "__main__":
    if sys.argv[1] == "protect":
        protect(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 3)
    elif sys.argv[1] == "walk":
        walk(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
