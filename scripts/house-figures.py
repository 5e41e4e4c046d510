#!/usr/bin/env python3
"""The house's figures (issue 36): functions over a length, files over a size, strings that carry
meaning. Reads rustfmt-formatted source: a function runs from its `fn` line to the `}` at the same
indentation; code after a top-level `#[cfg(test)]` is test code and not counted.

    scripts/house-figures.py                 # the summary
    scripts/house-figures.py --long 60 src/daemon src/pipeline   # every function over 60 lines
"""

import argparse
import pathlib
import re
import subprocess
import sys

FN = re.compile(r"^(\s*)(pub(\([^)]*\))? )?(const )?(async )?(unsafe )?(extern \"C\" )?fn (\w+)")


def functions(path):
    """(name, first line, length) of every non-test function in a file."""
    lines = path.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("#[cfg(test)]"):
            break
        m = FN.match(line)
        if not m:
            continue
        indent = m.group(1)
        # A declaration without a body (trait method) ends with `;` before any `{`.
        j = i
        while j < len(lines) and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
            j += 1
        if j >= len(lines) or lines[j].rstrip().endswith(";"):
            continue
        if lines[j].rstrip().endswith("}") and lines[j].count("{") == lines[j].count("}"):
            out.append((m.group(8), i + 1, j - i + 1))
            continue
        k = j + 1
        while k < len(lines) and lines[k] != indent + "}":
            k += 1
        out.append((m.group(8), i + 1, k - i + 1))
    return out


def rust_files(roots):
    for root in roots:
        p = pathlib.Path(root)
        if p.is_file():
            yield p
        else:
            yield from sorted(p.rglob("*.rs"))


def string_errors(text):
    """How many `Result<T, String>` the text names: the last argument at the top level is `String`
    (`Result<BTreeMap<String, String>, E>` is not one)."""
    n = 0
    for start in (i for i in range(len(text)) if text.startswith("Result<", i)):
        depth, arg, args = 0, "", []
        for ch in text[start + len("Result<"):]:
            if ch == "<":
                depth += 1
            elif ch == ">":
                if depth == 0:
                    args.append(arg.strip())
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                args.append(arg.strip())
                arg = ""
                continue
            arg += ch
        n += len(args) == 2 and args[1] == "String"
    return n


def count_string_errors(roots, exclude):
    n = 0
    for f in rust_files(roots):
        if str(f).startswith(exclude):
            continue
        text = f.read_text()
        cut = text.find("\n#[cfg(test)]")
        n += string_errors(text[:cut] if cut >= 0 else text)
    return n


def count(pattern, roots, exclude=None):
    n = 0
    for f in rust_files(roots):
        if exclude and str(f).startswith(exclude):
            continue
        text = f.read_text()
        cut = text.find("\n#[cfg(test)]")
        if cut >= 0:
            text = text[:cut]
        n += len(re.findall(pattern, text))
    return n


def lines_of(path):
    return len(pathlib.Path(path).read_text().splitlines())


def summary():
    fns = [(f, *fn) for f in rust_files(["src"]) for fn in functions(f)]
    over = lambda n, roots=("src",): sum(
        1 for f, _, _, length in fns if length > n and any(str(f).startswith(r) for r in roots)
    )
    rows = [
        ("functions of 100+ lines in src", over(99)),
        ("functions over 80 lines in src/config", over(80, ("src/config",))),
        ("functions over 60 lines in src/daemon + src/pipeline", over(60, ("src/daemon", "src/pipeline"))),
        ("src/config/validate.rs lines", lines_of("src/config/validate.rs") if pathlib.Path("src/config/validate.rs").exists() else 0),
        ("src/pipeline/run.rs lines", lines_of("src/pipeline/run.rs")),
        ("src/cli/mod.rs lines", lines_of("src/cli/mod.rs")),
        ("`Rclone` in src/config", int(subprocess.run(["sh", "-c", "grep -rn Rclone src/config | wc -l"], capture_output=True, text=True).stdout.strip() or 0)),
        ("`history_failed(` in src", count(r"history_failed\(", ["src"])),
        ("`Result<_, String>` outside src/cli", count_string_errors(["src"], "src/cli")),
        ("`retryable` in src", count(r"retryable", ["src"])),
        ("`_ =>` in src/web/live.rs", count(r"_ =>", ["src/web/live.rs"])),
    ]
    for name, value in rows:
        print(f"{value:>6}  {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--long", type=int)
    ap.add_argument("roots", nargs="*", default=["src"])
    a = ap.parse_args()
    if a.long is None:
        summary()
        return
    for f in rust_files(a.roots):
        for name, line, length in functions(f):
            if length > a.long:
                print(f"{length:>5}  {f}:{line}  {name}")


if __name__ == "__main__":
    sys.exit(main())
