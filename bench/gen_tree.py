#!/usr/bin/env python3
"""Generate the backup benchmark's tree: tens of thousands of small files and a few
hundred large ones, about half compressible text and half incompressible bytes, in a
directory structure a few levels deep. Deterministic for a given seed and size.

    gen_tree.py DIR [--mb 1024] [--seed 7]
"""
import argparse
import os
import random


def corpus(rng, size):
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(5000)]
    parts, total = [], 0
    while total < size:
        line = " ".join(rng.choices(words, k=rng.randint(4, 16))) + "\n"
        parts.append(line)
        total += len(line)
    return "".join(parts).encode()[:size]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    text = corpus(rng, 32 << 20)
    budget = args.mb << 20
    small_budget = budget * 45 // 100
    written = 0
    n = 0

    def path_for(i):
        d = os.path.join(args.dir, f"d{i % 40:02d}", f"s{(i // 40) % 25:02d}")
        os.makedirs(d, exist_ok=True)
        return d

    # Small files: 1-32 KiB, two thirds text, one third binary.
    while written < small_budget:
        size = rng.randint(1 << 10, 32 << 10)
        if n % 3 == 2:
            data = rng.randbytes(size)
        else:
            at = rng.randrange(0, len(text) - size)
            data = text[at:at + size]
        name = os.path.join(path_for(n), f"f{n:06d}.{'bin' if n % 3 == 2 else 'txt'}")
        with open(name, "wb") as f:
            f.write(data)
        written += size
        n += 1
    # Large files: 1-16 MiB, half text (logs, dumps), half binary (media, packages).
    big = 0
    while written < budget:
        size = min(rng.randint(1 << 20, 16 << 20), budget - written)
        if big % 2:
            data = rng.randbytes(size)
        else:
            chunks, left = [], size
            while left:
                take = min(left, rng.randint(64 << 10, 1 << 20))
                at = rng.randrange(0, len(text) - take)
                chunks.append(text[at:at + take])
                left -= take
            data = b"".join(chunks)
        name = os.path.join(args.dir, "large", f"L{big:04d}.{'bin' if big % 2 else 'log'}")
        os.makedirs(os.path.dirname(name), exist_ok=True)
        with open(name, "wb") as f:
            f.write(data)
        written += size
        big += 1
    os.makedirs(os.path.join(args.dir, "empty", "dir"), exist_ok=True)
    os.symlink("../large", os.path.join(args.dir, "d00", "link-to-large"))
    os.chmod(os.path.join(args.dir, "d00", "s00", "f000000.txt"), 0o755)
    print(f"{n} small + {big} large files, {written >> 20} MiB")


if __name__ == "__main__":
    main()
