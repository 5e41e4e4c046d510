"""Draws the add-on's icon.png (128x128) and logo.png (250x100): a lifebuoy, red and white
quarters on a ring, anti-aliased, written with nothing but the standard library.

    python3 scripts/make_icons.py addon/
"""
import math
import struct
import sys
import zlib

RED = (214, 48, 49)
WHITE = (250, 250, 250)
NAVY = (28, 52, 84)


def png(path, width, height, pixel):
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows.extend(pixel(x, y))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(bytes(rows), 9)))
        f.write(chunk(b"IEND", b""))


def buoy(cx, cy, outer, inner):
    """RGBA of the lifebuoy at a point, 4x4 supersampled."""
    def at(x, y):
        acc = [0.0, 0.0, 0.0, 0.0]
        for sy in range(4):
            for sx in range(4):
                px, py = x + (sx + 0.5) / 4 - cx, y + (sy + 0.5) / 4 - cy
                r = math.hypot(px, py)
                if inner <= r <= outer:
                    angle = (math.degrees(math.atan2(py, px)) + 360 + 45) % 360
                    colour = RED if int(angle // 45) % 2 == 0 else WHITE
                    if r < inner + 1.5 or r > outer - 1.5:
                        colour = NAVY
                    for i in range(3):
                        acc[i] += colour[i]
                    acc[3] += 255
        n = 16
        alpha = acc[3] / n
        if alpha == 0:
            return (0, 0, 0, 0)
        cover = acc[3] / 255
        return tuple(int(c / cover) for c in acc[:3]) + (int(alpha),)
    return at


def main(out):
    icon = buoy(64, 64, 60, 30)
    png(f"{out}/icon.png", 128, 128, lambda x, y: icon(x, y))
    logo = buoy(50, 50, 46, 23)
    png(f"{out}/logo.png", 250, 100, lambda x, y: logo(x, y) if x < 100 else (0, 0, 0, 0))


main(sys.argv[1] if len(sys.argv) > 1 else "addon")
