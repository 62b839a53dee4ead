#!/usr/bin/env python3
"""Interleaved A/B timing: run each command once per round, round after round, so that every
command sees the same machine (a shared VM drifts by tens of percent within minutes, which
makes back-to-back hyperfine runs of two binaries hard to compare).

    bench/ab.py [--json FILE] ROUNDS NAME=COMMAND [NAME:prepare=COMMAND] [NAME=COMMAND ...]

Each COMMAND runs under `/bin/sh -c 'exec COMMAND'` with output discarded. `NAME:prepare`
runs before every run of NAME, untimed (e.g. moving the last run's state directory aside).
Prints, per command, the median and minimum wall time, the median CPU time of the command
and its children (user + system), and the ratio of its median to the first command's.
`--json FILE` also writes those figures (milliseconds) as `{NAME: {"median", "min", "cpu"}}`.
Stdlib only.
"""

import json
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


def parse(argv):
    json_path = None
    if len(argv) > 2 and argv[1] == "--json":
        json_path, argv = argv[2], [argv[0]] + argv[3:]
    if len(argv) < 3 or not argv[1].isdigit():
        sys.exit(__doc__)
    pairs = [arg.split("=", 1) for arg in argv[2:]]
    if any(len(p) != 2 for p in pairs):
        sys.exit("each command is NAME=COMMAND or NAME:prepare=COMMAND")
    commands = [(name, cmd) for name, cmd in pairs if not name.endswith(":prepare")]
    prepare = {name[: -len(":prepare")]: cmd for name, cmd in pairs if name.endswith(":prepare")}
    unknown = set(prepare) - {name for name, _ in commands}
    if unknown:
        sys.exit(f"a prepare step for no command: {sorted(unknown)}")
    return json_path, int(argv[1]), commands, prepare


def main(argv):
    json_path, rounds, commands, prepare = parse(argv)
    results = {name: ([], []) for name, _ in commands}
    with open(os.devnull, "w") as devnull:

        def one(name, command):
            if name in prepare:
                subprocess.run(["/bin/sh", "-c", prepare[name]], stdout=devnull, stderr=devnull, check=False)
            return run_once(command, devnull)

        for name, command in commands:  # warm the page cache
            for _ in range(3):
                one(name, command)
        for _ in range(rounds):
            for name, command in commands:
                wall, cpu = one(name, command)
                results[name][0].append(wall)
                results[name][1].append(cpu)
    first = None
    figures = {}
    for name, _ in commands:
        walls, cpus = results[name]
        median = statistics.median(walls)
        first = first or median
        figures[name] = {"median": median, "min": min(walls), "cpu": statistics.median(cpus)}
        print(
            f"{name:14s} wall median {median:8.1f} ms  min {min(walls):8.1f} ms  "
            f"cpu median {statistics.median(cpus):8.1f} ms  ratio {median / first:.3f}"
        )
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"rounds": rounds, "commands": figures}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv)
