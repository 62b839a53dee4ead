#!/usr/bin/env python3
"""Interleaved A/B timing: run each command once per round, round after round, so that every
command sees the same machine (a shared VM drifts by tens of percent within minutes, which
makes back-to-back hyperfine runs of two binaries hard to compare).

    bench/ab.py ROUNDS NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND runs under `/bin/sh -c 'exec COMMAND'` with output discarded. Prints, per
command, the median and minimum wall time, the median CPU time of the command and its
children (user + system), and the ratio of its median to the first command's.
Stdlib only.
"""

import os
import resource
import statistics
import subprocess
import sys
import time


def run_once(command, devnull):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", "exec " + command], stdout=devnull, stderr=devnull, check=False)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000
    return wall, cpu


def main(argv):
    if len(argv) < 3 or not argv[1].isdigit():
        sys.exit(__doc__)
    rounds = int(argv[1])
    commands = [arg.split("=", 1) for arg in argv[2:]]
    if any(len(c) != 2 for c in commands):
        sys.exit("each command is NAME=COMMAND")
    results = {name: ([], []) for name, _ in commands}
    with open(os.devnull, "w") as devnull:
        for _, command in commands:  # warm the page cache
            for _ in range(3):
                run_once(command, devnull)
        for _ in range(rounds):
            for name, command in commands:
                wall, cpu = run_once(command, devnull)
                results[name][0].append(wall)
                results[name][1].append(cpu)
    first = None
    for name, _ in commands:
        walls, cpus = results[name]
        median = statistics.median(walls)
        first = first or median
        print(
            f"{name:14s} wall median {median:8.1f} ms  min {min(walls):8.1f} ms  "
            f"cpu median {statistics.median(cpus):8.1f} ms  ratio {median / first:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv)
