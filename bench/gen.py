#!/usr/bin/env python3
"""Input generators for bench/engine.sh.

    gen.py chain  OUTDIR N      upkeep.toml + Makefile + build.ninja: N no-op modules, each after the previous
    gen.py wide   OUTDIR N      the same, N independent modules
    gen.py tree   OUTDIR N MB   N module folders totalling about MB megabytes, + upkeep.toml with `dir` modules
    gen.py py     OUTDIR        one Python module OUTDIR/mod1/index.py + upkeep.toml
    gen.py report RESULTS_DIR   the final table from hyperfine's JSON exports

Everything is deterministic (the tree's bytes come from a seeded SHAKE-256 stream)."""

import hashlib
import json
import os
import sys


def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def name(i):
    return f"m{i:04d}"


def graph(out, n, chain):
    """upkeep.toml, a Makefile of phony targets (the run peer), and for the "nothing to do"
    peers a build.ninja and Makefile.q whose targets are real files under o/ (created by
    one real `ninja` build in engine.sh, so both then have an up-to-date check per target)."""
    toml, make, makeq = [], [], []
    ninja = ["rule touch\n  command = touch $out\n"]
    names = [name(i) for i in range(n)]
    for i, m in enumerate(names):
        dep = names[i - 1] if chain and i else None
        toml.append(f'[[module]]\nname = "{m}"\ncommand = ["/bin/true"]\n'
                    + (f'depends_on = ["{dep}"]\n' if dep else ""))
        make.append(f"{m}:{' ' + dep if dep else ''}\n\t/bin/true\n")
        makeq.append(f"o/{m}:{' o/' + dep if dep else ''}\n\ttouch $@\n")
        ninja.append(f"build o/{m}: touch{' | o/' + dep if dep else ''}\n")
    outs = " ".join("o/" + m for m in names)
    write(os.path.join(out, "upkeep.toml"), "\n".join(toml))
    write(os.path.join(out, "Makefile"),
          ".PHONY: all " + " ".join(names) + "\n"
          + "all: " + (names[-1] if chain else " ".join(names)) + "\n"
          + "".join(make))
    write(os.path.join(out, "Makefile.q"), "all: " + outs + "\n.PHONY: all\n" + "".join(makeq))
    write(os.path.join(out, "build.ninja"), "".join(ninja) + "default " + outs + "\n")
    os.makedirs(os.path.join(out, "o"), exist_ok=True)


class Stream:
    """Fast deterministic pseudo-random bytes: a 1 MiB SHAKE-256 block of a seed, served in
    64 KiB chunks from a moving offset, each chunk starting with a fresh 32-byte SHA-256 of
    a counter (so no two chunks in the tree are identical)."""

    CHUNK = 1 << 16

    def __init__(self, seed):
        self.block = hashlib.shake_256(seed.encode()).digest(1 << 20)
        self.view = memoryview(self.block)
        self.n = 0

    def take(self, size):
        parts, left = [], size
        while left > 0:
            self.n += 1
            at = (self.n * 4099) % (len(self.block) - self.CHUNK)
            parts.append(hashlib.sha256(self.n.to_bytes(8, "little")).digest())
            parts.append(self.view[at:at + self.CHUNK - 32])
            left -= self.CHUNK
        return b"".join(parts)[:size]


def tree(out, n, megabytes):
    """n module folders: index.py + 8 small .py helpers (1-12 KB) + 4 data files. Folder
    sizes vary 1:10 (weights 1..10), so data files range from ~100 KB to ~4 MB."""
    total = megabytes * 1_000_000
    weights = [1 + (d * 37) % 10 for d in range(n)]
    stream = Stream("upkeep-bench")
    toml = []
    files = size = 0
    for d in range(n):
        m = f"big{d:03d}"
        root = os.path.join(out, m)
        os.makedirs(os.path.join(root, "lib"), exist_ok=True)
        os.makedirs(os.path.join(root, "data"), exist_ok=True)
        per_dir = total * weights[d] // sum(weights)
        srcs = {"index.py": f"def main(args):\n    return {d}\n"}
        for k in range(8):
            length = 1000 + ((d * 8 + k) * 1543) % 11000
            srcs[f"lib/h{k}.py"] = f"# {m} helper {k}\nDATA = '{stream.take(length // 2 + 1).hex()[:length]}'\n"
        for rel, text in srcs.items():
            write(os.path.join(root, rel), text)
        used = sum(len(t) for t in srcs.values())
        files += len(srcs)
        # data files make up the rest: 1/2, 1/4, 1/8, 1/8
        rest = max(per_dir - used, 0)
        for k, part in enumerate((rest // 2, rest // 4, rest // 8, rest - rest // 2 - rest // 4 - rest // 8)):
            with open(os.path.join(root, "data", f"blob{k}.bin"), "wb") as f:
                f.write(stream.take(part))
        files += 4
        size += used + rest
        toml.append(f'[[module]]\nname = "{m}"\ncommand = ["/bin/true"]\ndir = "{m}"\n')
    write(os.path.join(out, "upkeep.toml"), "\n".join(toml))
    print(f"tree: {n} folders, {files} files, {size / 1e6:.1f} MB", file=sys.stderr)


def py(out):
    write(os.path.join(out, "mod1", "index.py"), "def main(args):\n    pass\n")
    write(os.path.join(out, "upkeep.toml"), '[[module]]\nname = "mod1"\npython = "mod1.index"\n')


# ---------------------------------------------------------------- report

def load(results, key):
    """hyperfine's result for benchmark `key`, with `bg`: the CPU (in cores) that other
    processes used while it ran (machine busy time minus the benchmarked commands' own)."""
    with open(os.path.join(results, key + ".json")) as f:
        r = json.load(f)["results"][0]
    r["bg"] = None
    try:
        with open(os.path.join(results, key + ".load")) as f:
            l = json.load(f)
        busy = l["busy_jiffies"] / l["hz"]
        own = (len(r["times"]) + l["warmup"]) * (r["user"] + r["system"])
        r["bg"] = max(0.0, busy - own) / (l["wall_ns"] / 1e9)
    except (FileNotFoundError, KeyError, ZeroDivisionError):
        pass
    return r


def fmt_t(s):
    if s >= 1:
        return f"{s:.3f} s"
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} us"


BG_WARN = 0.25  # cores used by other processes during a benchmark that make it suspect


def report(results):
    with open(os.path.join(results, "meta.json")) as f:
        meta = json.load(f)
    n = meta["n"]
    rows = []  # scenario, upkeep, peer (name), ratio, ratio by min, target, verdict, bg

    def row(scenario, up_key, peer_key, peer_name, per=1, target=None, higher_better=False, gbps=False, absolute=None):
        try:
            up = load(results, up_key)
            peer = load(results, peer_key) if peer_key else None
        except FileNotFoundError:
            rows.append((scenario, "n/a", peer_name, "", "", "", "SKIP", ""))
            return
        bgs = [x["bg"] for x in (up, peer) if x]
        bg = "/".join("?" if b is None else f"{b:.2f}" for b in bgs)
        if any(b is not None and b > BG_WARN for b in bgs):
            bg += " !"
        if peer is None:  # absolute target on upkeep's mean
            ok = up["mean"] < absolute
            rows.append((scenario, f"{fmt_t(up['mean'])} ±{fmt_t(up['stddev'] or 0)}", "-", "-", "-",
                         f"< {fmt_t(absolute)}", "PASS" if ok else "MISS", bg))
            return
        if gbps:
            b = meta["tree_bytes"]
            up_s = f"{b / up['mean'] / 1e9:.2f} GB/s ({fmt_t(up['mean'])})"
            peer_s = f"{peer_name}: {b / peer['mean'] / 1e9:.2f} GB/s ({fmt_t(peer['mean'])})"
            ratio, ratio_min = peer["mean"] / up["mean"], peer["min"] / up["min"]
        else:
            suffix = "/module" if per > 1 else ""
            up_s = f"{fmt_t(up['mean'] / per)}{suffix} (total {fmt_t(up['mean'])})" if per > 1 else f"{fmt_t(up['mean'])} ±{fmt_t(up['stddev'] or 0)}"
            peer_s = f"{peer_name}: " + (f"{fmt_t(peer['mean'] / per)}{suffix} (total {fmt_t(peer['mean'])})" if per > 1 else f"{fmt_t(peer['mean'])} ±{fmt_t(peer['stddev'] or 0)}")
            ratio, ratio_min = up["mean"] / peer["mean"], up["min"] / peer["min"]
        if target is None:
            verdict, target_s = "info", "-"
        else:
            ok = ratio >= target if higher_better else ratio <= target
            verdict = "PASS" if ok else "MISS"
            target_s = ("≥ " if higher_better else "≤ ") + f"{target:g}"
        rows.append((scenario, up_s, peer_s, f"{ratio:.2f}", f"{ratio_min:.2f}", target_s, verdict, bg))

    def interleaved(key, peer_name, target):
        """Two rows from bench/ab.py's medians (ms): the whole run against make's, and the
        per-module overhead: ($n modules minus one) against make's."""
        try:
            with open(os.path.join(results, key + "_ab.json")) as f:
                c = json.load(f)["commands"]
        except FileNotFoundError:
            rows.append(("   interleaved", "n/a", peer_name, "", "", "", "SKIP", ""))
            return
        ms = lambda name, k="median": c[name][k] / 1e3
        for label, up, peer, up_min, peer_min, divide in (
            ("   interleaved, whole run", ms("upkeep"), ms("make"), ms("upkeep", "min"), ms("make", "min"), n),
            (f"   interleaved, per module ({n} minus 1)", ms("upkeep") - ms("upkeep1"), ms("make") - ms("make1"),
             ms("upkeep", "min") - ms("upkeep1", "min"), ms("make", "min") - ms("make1", "min"), n - 1),
        ):
            ratio = up / peer
            ok = ratio <= target
            rows.append((label, f"{fmt_t(up / divide)}/module", f"{peer_name}: {fmt_t(peer / divide)}/module",
                         f"{ratio:.2f}", f"{up_min / peer_min:.2f}", f"≤ {target:g}", "PASS" if ok else "MISS", "-"))

    row(f"1. chain of {n}, -j1", "chain_upkeep", "chain_make", "make -j1", per=n, target=1.25)
    interleaved("chain", "make -j1", 1.25)
    row("   (diag) state dir on tmpfs", "chain_upkeep_tmpfs", "chain_make", "make -j1", per=n)
    row("   (diag) --force, existing state", "chain_upkeep_again", "chain_make", "make -j1", per=n)
    row(f"2. {n} independent, -j2", "wide_upkeep", "wide_make", "make -j2", per=n, target=1.25)
    interleaved("wide", "make -j2", 1.25)
    row("   (diag) state dir on tmpfs", "wide_upkeep_tmpfs", "wide_make", "make -j2", per=n)
    row("   (diag) --force, existing state", "wide_upkeep_again", "wide_make", "make -j2", per=n)
    row(f"3. plan, {n} up to date", "plan_upkeep", None, "", absolute=0.040)
    row("   plan vs make -q", "plan_upkeep", "plan_make", "make -q")
    row("   plan vs ninja -n", "plan_upkeep", "plan_ninja", "ninja -n")
    row(f"4. checksum --check, {meta['tree_bytes'] / 1e6:.0f} MB / {meta['tree_files']} files", "sum_upkeep", "sum_openssl",
        "openssl", target=1.7, higher_better=True, gbps=True)
    row("5. python module, python3 on PATH", "py_upkeep_shim", "py_bare_shim", "bare python3", target=1.1)
    try:
        with open(os.path.join(results, "py_ab.json")) as f:
            c = json.load(f)["commands"]
        up, bare = c["upkeep"], c["bare"]
        ratio = up["median"] / bare["median"]
        rows.append(("   interleaved", fmt_t(up["median"] / 1e3), f"bare python3: {fmt_t(bare['median'] / 1e3)}",
                     f"{ratio:.2f}", f"{up['min'] / bare['min']:.2f}", "≤ 1.1", "PASS" if ratio <= 1.1 else "MISS", "-"))
    except FileNotFoundError:
        rows.append(("   interleaved", "n/a", "bare python3", "", "", "", "SKIP", ""))
    row("   (diag) venv python, no shim", "py_upkeep", "py_bare", "bare venv python")

    head = ("scenario", "upkeep", "peer", "ratio", "by min", "target", "result", "bg load up/peer")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(line)
    print("ratio: upkeep mean / peer mean (times; lower is better), except 4: upkeep GB/s / openssl GB/s")
    print("(higher is better); 'interleaved' rows: medians of bench/ab.py, both tools run by turns, the per-module")
    print(f"one from the {n}-module run minus a one-module run (what each tool pays once per run left out).")
    print("'by min': the same from the fastest runs, less sensitive to other load.")
    print(f"bg load: CPU cores used by other processes while upkeep's / the peer's benchmark ran ('!' above {BG_WARN}: noisy).")
    if meta.get("since_cleanup_s", 1 << 30) < 300:
        print(f"NOTE: the previous run deleted its files {meta['since_cleanup_s']} s before this one started;"
              " scenarios 1-2 are slowed by ext4 (see README). Rerun after 5 minutes for clean numbers.")
    passed = sum(r[6] == "PASS" for r in rows)
    missed = sum(r[6] == "MISS" for r in rows)
    print(f"{passed} PASS, {missed} MISS")


def main(argv):
    cmd = argv[1]
    if cmd in ("chain", "wide"):
        graph(argv[2], int(argv[3]), chain=cmd == "chain")
    elif cmd == "tree":
        tree(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "py":
        py(argv[2])
    elif cmd == "report":
        report(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
