#!/usr/bin/env python3
"""Regenerate the hostile archive corpus checked by `tests/archive_corpus.rs`.

Run from this directory: `python3 gen.py`. Output is deterministic (fixed mtimes, owners
and names; zstd items need the `zstd` command-line tool). Every item restores under the
label `data`; `verdicts.txt` gives the refusal each one must get. Sidecars:

- `ITEM.entries.json`: the entries "recorded in the ledger" for the item (the restore is
  called with them); without one, the restore is called without recorded entries.
- `ITEM.sha256`: the SHA-256 "recorded in the ledger", when it is not the item's own.
"""

import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading

MTIME = 1_700_000_000
INDEX = b"upkeep-archive 1\npresent data\n"
HERE = os.path.dirname(os.path.abspath(__file__))


def info(name, kind=tarfile.REGTYPE, size=0, mode=0o644, link="", pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = size
    ti.mode = mode
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.linkname = link
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    if pax:
        ti.pax_headers = pax
    return ti


def tar_bytes(members, fmt=tarfile.GNU_FORMAT, index=True):
    """members: list of (TarInfo, bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        if index:
            tar.addfile(info(".upkeep-roots", size=len(INDEX)), io.BytesIO(INDEX))
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                tar.addfile(ti)
    return buf.getvalue()


def zstd(data, level=19):
    return subprocess.run(
        ["zstd", "-q", f"-{level}", "-c", "--no-progress"],
        input=data, stdout=subprocess.PIPE, check=True,
    ).stdout


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def entry(path, kind, mode=0o644, data=None, link=None):
    return {
        "path": path,
        "kind": kind,
        "mode": mode,
        "size": len(data) if data is not None else 0,
        "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
        "link": link,
    }


def write_entries(name, entries):
    with open(os.path.join(HERE, name + ".entries.json"), "w") as f:
        json.dump(entries, f, indent=1, sort_keys=True)
        f.write("\n")


def d(name, mode=0o755):
    return (info(name, tarfile.DIRTYPE, mode=mode), None)


def f(name, data, mode=0o644):
    return (info(name, mode=mode), data)


def sym(name, target):
    return (info(name, tarfile.SYMTYPE, link=target), None)


def hard(name, target):
    return (info(name, tarfile.LNKTYPE, link=target), None)


BENIGN = [d("data"), f("data/a.txt", b"hello\n"), d("data/sub"), f("data/sub/b.bin", bytes(range(256)) * 64)]


class Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def bomb():
    """1 GiB of zeros in one member, streamed through zstd: a few dozen KiB on disk."""
    proc = subprocess.Popen(["zstd", "-q", "-19", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    t.start()
    with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info(".upkeep-roots", size=len(INDEX)), io.BytesIO(INDEX))
        tar.addfile(info("data", tarfile.DIRTYPE, mode=0o755))
        tar.addfile(info("data/zeros", size=1 << 30), io.BufferedReader(Zeros(1 << 30), 1 << 20))
    proc.stdin.close()
    t.join()
    proc.wait()
    return out[0]


def main():
    items = {
        "traversal.tar": tar_bytes([d("data"), f("data/../escaped", b"x")]),
        "nested-traversal.tar": tar_bytes([d("data"), d("data/a"), f("data/a/../../x", b"x")]),
        "absolute.tar": tar_bytes([d("data"), f("/tmp/upkeep-corpus-absolute", b"x")]),
        "nul-in-pax-path.tar": tar_bytes(
            [d("data"), (info("data/innocent", pax={"path": "data/evil\x00/../../x"}), b"x")],
            fmt=tarfile.PAX_FORMAT,
        ),
        "empty-name.tar": tar_bytes([d("data"), f("./", b"")]),
        "symlink-absolute.tar": tar_bytes([d("data"), sym("data/link", "/etc/passwd")]),
        "symlink-escape.tar": tar_bytes([d("data"), d("data/a"), sym("data/a/link", "../../sentinel")]),
        "symlink-dotdot-after-name.tar": tar_bytes(
            [d("data"), sym("data/self", "."), sym("data/link", "self/../sentinel")]
        ),
        "symlink-then-file.tar": tar_bytes(
            [d("data"), d("data/sub"), sym("data/link", "sub"), f("data/link/evil", b"x")]
        ),
        "file-then-child.tar": tar_bytes([d("data"), f("data/f", b"x"), f("data/f/child", b"x")]),
        "two-archive-a.tar": tar_bytes([d("data"), d("data/sub"), sym("data/link", "sub")]),
        "two-archive-b.tar": tar_bytes([d("data"), d("data/link"), f("data/link/file", b"planted\n")]),
        "hardlink-etc-passwd.tar": tar_bytes([d("data"), hard("data/passwd", "/etc/passwd")]),
        "hardlink-dotdot.tar": tar_bytes([d("data"), hard("data/x", "../x")]),
        "hardlink-forward.tar": tar_bytes([d("data"), hard("data/x", "data/later"), f("data/later", b"x")]),
        "char-device.tar": tar_bytes([d("data"), (info("data/null", tarfile.CHRTYPE), None)]),
        "block-device.tar": tar_bytes([d("data"), (info("data/disk", tarfile.BLKTYPE), None)]),
        "fifo.tar": tar_bytes([d("data"), (info("data/pipe", tarfile.FIFOTYPE), None)]),
        "duplicate.tar": tar_bytes([d("data"), f("data/a", b"first"), f("data/a", b"second")]),
        "duplicate-dot-slash.tar": tar_bytes([d("data"), f("data/a", b"first"), f("./data//a", b"second")]),
        "unknown-label.tar": tar_bytes([d("data"), d("other"), f("other/x", b"x")]),
        "no-index.tar": tar_bytes([d("data"), f("data/a", b"x")], index=False),
        "bomb.tar.zst": bomb(),
    }
    benign = tar_bytes(BENIGN)
    benign_zst = zstd(benign)
    items["truncated.tar"] = benign[: 512 * 7 + 1000]  # inside data/sub/b.bin
    items["truncated.tar.zst"] = benign_zst[: len(benign_zst) * 2 // 3]
    no_end = tar_bytes(BENIGN)
    items["no-end-marker.tar"] = no_end[: 512 * 8 + len(bytes(range(256)) * 64)]
    items["trailing-data.tar"] = benign + b"\x01" * 512

    flipped = bytearray(benign_zst)
    flipped[len(flipped) // 2] ^= 0x10
    items["bit-flipped.tar.zst"] = bytes(flipped)
    with open(os.path.join(HERE, "bit-flipped.tar.zst.sha256"), "w") as fh:
        fh.write(hashlib.sha256(benign_zst).hexdigest() + "\n")

    recorded = [
        entry("data", "dir", 0o755),
        entry("data/a.txt", "file", data=b"hello\n"),
        entry("data/sub", "dir", 0o755),
        entry("data/sub/b.bin", "file", data=bytes(range(256)) * 64),
    ]
    items["hash-mismatch.tar"] = tar_bytes(
        [d("data"), f("data/a.txt", b"HELLO\n"), d("data/sub"), f("data/sub/b.bin", bytes(range(256)) * 64)]
    )
    write_entries("hash-mismatch.tar", recorded)
    items["size-mismatch.tar"] = tar_bytes(
        [d("data"), f("data/a.txt", b"hello!\n"), d("data/sub"), f("data/sub/b.bin", bytes(range(256)) * 64)]
    )
    write_entries("size-mismatch.tar", recorded)
    items["unrecorded.tar"] = tar_bytes(BENIGN + [f("data/extra", b"x")])
    write_entries("unrecorded.tar", recorded)
    items["recorded-missing.tar"] = tar_bytes(BENIGN[:2])
    write_entries("recorded-missing.tar", recorded)

    for name, data in sorted(items.items()):
        write(name, data)


if __name__ == "__main__":
    main()
