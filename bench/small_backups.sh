#!/usr/bin/env bash
# The fixed cost of a small pre-update backup: a forced run of the first RUN_MODULES (200)
# modules of bench/status.sh's lived-in state (1,000 modules, each owning one tiny
# directory, with history), once with the default store backups and once with
# `backup.format = "archive"`. Each format gets its own copy of the state and one warm-up
# run; then REPS (5) timed runs alternate between them. Prints the median wall time of
# each, their ratio (store/archive) and the load average beside every figure: the machine
# is shared, so compare figures taken at a similar load. With CHANGE=1 every module's file
# changes before each run (so each backup writes new chunks: a pack, fsynced and read back,
# against an archive each); by default nothing changes between runs.
#
#   bench/small_backups.sh             # SKIP_BUILD=1 to use target/release/upkeep as is
#   BIN=path/to/upkeep bench/small_backups.sh   # another binary (e.g. a build before a change)
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
LIVED=$BENCH/out/status
OUT=$BENCH/out/small_backups
RUN_MODULES=${RUN_MODULES:-200}
REPS=${REPS:-5}

[[ ${SKIP_BUILD:-0} == 1 || -n ${BIN:-} ]] || (cd "$ROOT" && cargo build --release --quiet -p upkeep)
BIN=${BIN:-$ROOT/target/release/upkeep}
# The lived-in state is made once (by the binary status.sh builds) and copied per format.
[[ -f $LIVED/state/upkeep.db ]] || RUNS=3 SKIP_BUILD=1 bash "$BENCH/status.sh" >/dev/null

rm -rf "$OUT"
mkdir -p "$OUT"
cp "$BIN" "$OUT/upkeep"
for format in store archive; do
    cp -a "$LIVED" "$OUT/$format"
    printf '\n[backup]\nformat = "%s"\n' "$format" >>"$OUT/$format/settings.toml"
done

mapfile -t TARGETS < <(python3 -c 'import sys; [print(f"m{i:04d}") for i in range(int(sys.argv[1]))]' "$RUN_MODULES")
load() { cut -d' ' -f1 /proc/loadavg; }
# One forced run; prints its wall time in milliseconds.
forced_run() {
    local dir=$OUT/$1 start end module
    if [[ ${CHANGE:-0} == 1 ]]; then
        # The modules' paths are the lived-in state's data directory, shared by both copies.
        for module in "${TARGETS[@]}"; do echo "$1 $(date +%s%N)" >>"$LIVED/data/$module/conf"; done
    fi
    start=$(date +%s%N)
    "$OUT/upkeep" --manifest "$dir/upkeep.toml" --state-dir "$dir/state" --config "$dir/settings.toml" \
        run --force --quiet --min-free 0 "${TARGETS[@]}" >/dev/null 2>"$OUT/$1.err" ||
        { cat "$OUT/$1.err" >&2; exit 1; }
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

forced_run store >/dev/null
forced_run archive >/dev/null
STORE=() ARCHIVE=() LOADS=()
for _ in $(seq "$REPS"); do
    LOADS+=("$(load)")
    STORE+=("$(forced_run store)")
    ARCHIVE+=("$(forced_run archive)")
done
python3 - "$RUN_MODULES" "${STORE[*]}" "${ARCHIVE[*]}" "${LOADS[*]}" "${CHANGE:-0}" <<'PY' | tee "$OUT/result.txt"
import statistics, sys
modules = int(sys.argv[1])
store, archive = ([int(x) for x in arg.split()] for arg in sys.argv[2:4])
loads = sys.argv[4].split()
s, a = statistics.median(store), statistics.median(archive)
change = "each module's file changed before each run" if sys.argv[5] == "1" else "nothing changed between runs"
print(f"forced run of {modules} small modules ({change}), median of {len(store)}: store {s:.0f} ms {store}, "
      f"archive {a:.0f} ms {archive}, store/archive {s / a:.2f} (1-min load before each pair: {' '.join(loads)})")
PY
