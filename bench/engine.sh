#!/usr/bin/env bash
# Engine benchmarks: upkeep against its peers (make, ninja, openssl, a bare python).
# See bench/README.md.
#
#   bench/engine.sh
#
# Environment: N (modules, 1000), TREE_DIRS (200), TREE_MB (500), KEEP=1 (keep the
# checksum tree and trash for a rerun), SKIP_BUILD=1 (use target/release/upkeep as is),
# IDLE_WAIT (seconds to wait in total for other processes to go quiet, 120),
# RUNS_SCALE (multiply every --runs, 1), FRESH=rm (wipe state dirs with rm -rf instead of
# moving them aside; see below), AB_ROUNDS (rounds of the interleaved runs of scenarios 1
# and 2, 20).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out
RES=$OUT/results
TRASH=$OUT/trash
N=${N:-1000}
TREE_DIRS=${TREE_DIRS:-200}
TREE_MB=${TREE_MB:-500}
KEEP=${KEEP:-0}
IDLE_WAIT=${IDLE_WAIT:-120}
RUNS_SCALE=${RUNS_SCALE:-1}
AB_ROUNDS=${AB_ROUNDS:-20}
PY=${PYTHON:-python3}   # only runs the generators and the report
# bench/ab.py runs commands that use `python3` from PATH; started through a pyenv shim it
# would see the PATH `pyenv exec` hands down, with the real interpreter's bin/ first. So it
# runs on the interpreter itself.
ABPY=$("$PY" -c 'import sys; print(sys.executable)')

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "missing $1 (apt-get install -y $2)" >&2; exit 1; }; }
need hyperfine hyperfine; need ninja ninja-build; need make make; need openssl openssl; need cargo cargo

# ---------------------------------------------------------------- build
say "cargo build --release"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    # Others may be mid-edit: retry for up to ~10 minutes.
    for attempt in $(seq 1 10); do
        if (cd "$ROOT" && cargo build --release --quiet); then break; fi
        [[ $attempt == 10 ]] && { echo "release build failed 10 times" >&2; exit 1; }
        echo "build failed (attempt $attempt); retrying in 60 s" >&2
        sleep 60
    done
fi
mkdir -p "$OUT" "$RES" "$TRASH"
# See the comment on trash() below: a cleanup less than ~5 minutes ago slows file creation.
since_cleanup=999999
[[ -f $OUT/.cleaned ]] && since_cleanup=$(( $(date +%s) - $(cat "$OUT/.cleaned") ))
if (( since_cleanup < 300 )); then
    echo "WARNING: the last run deleted its files ${since_cleanup}s ago; on ext4 without a journal," \
         "creating files is slower for ~5 minutes after many deletions (scenarios 1-2 pay for it)." >&2
fi
rm -f "$RES"/*.json "$RES"/*.load
# A private copy, so a concurrent rebuild cannot swap the binary mid-benchmark.
cp "$ROOT/target/release/upkeep" "$OUT/upkeep.new" && mv "$OUT/upkeep.new" "$OUT/upkeep"
UPKEEP=$OUT/upkeep
"$UPKEEP" --version

# Deleting thousands of files right before creating thousands makes ext4's inode
# allocator slow when there is no journal (it skips, one by one, inodes freed in the last
# 1-5 minutes), which would be charged to upkeep's state-dir creation. So nothing is
# deleted while measuring: old directories are moved into $TRASH (cheap) and the trash is
# emptied at the very end.
trash() { local p; for p; do [[ -e $p ]] && mv "$p" "$TRASH/$(basename "$p").$(date +%s%N)"; done; return 0; }
# hyperfine's --prepare (no shell): move the state dir aside (FRESH=rm: delete it, to see
# the effect described above)
if [[ ${FRESH:-mv} == rm ]]; then
    prepare_fresh() { echo "rm -rf $1"; }
else
    prepare_fresh() { echo "sh -c 'mv $1 $TRASH/st.\$(date +%s%N) 2>/dev/null || true'"; }
fi

# CPU jiffies busy (user nice system irq softirq) and total (+ idle iowait steal) from /proc/stat
cpu_jiffies() { awk '/^cpu /{b=$2+$3+$4+$7+$8; print b, b+$5+$6+$9}' /proc/stat; }
# Wait (within the IDLE_WAIT budget) until other processes use < 15% of the machine.
idle_left=$IDLE_WAIT
wait_idle() {
    local waited=0 b0 t0 b1 t1 busy
    while :; do
        read -r b0 t0 < <(cpu_jiffies); sleep 1; read -r b1 t1 < <(cpu_jiffies)
        busy=$(( (b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1) ))
        if (( busy < 15 || idle_left <= 0 )); then break; fi
        (( waited == 0 )) && echo "(machine busy: ${busy}% CPU used by other processes; waiting up to ${idle_left}s for quiet)"
        waited=$((waited + 1)); idle_left=$((idle_left - 1))
    done
    (( waited > 0 )) && echo "(waited ${waited}s; now ${busy}% busy)"
    return 0
}

# hf NAME WARMUP RUNS [hyperfine args...]: results in $RES/NAME.json, and in $RES/NAME.load
# the machine's busy CPU time and wall time over the whole benchmark (to tell, in the
# report, how much CPU other processes took meanwhile).
hf() {
    local name=$1 warmup=$2 runs=$(( $3 * RUNS_SCALE )) b0 t0 s0 b1 t1 s1
    shift 3
    wait_idle
    read -r b0 t0 < <(cpu_jiffies); s0=$(date +%s%N)
    hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$RES/$name.json" "$@"
    read -r b1 t1 < <(cpu_jiffies); s1=$(date +%s%N)
    echo "{\"busy_jiffies\": $((b1 - b0)), \"hz\": $(getconf CLK_TCK), \"wall_ns\": $((s1 - s0)), \"warmup\": $warmup}" >"$RES/$name.load"
}

# ab NAME DIR ONE JOBS: upkeep (fresh state each run) and make over DIR ($N modules) and
# over ONE (a single module), interleaved run by run with bench/ab.py, so that both tools
# see the same machine (hyperfine's blocks above run minutes apart, and this VM drifts by
# tens of percent within minutes). Results in $RES/NAME_ab.json. The report takes the
# issue's per-module overhead from the difference between DIR and ONE, which leaves out
# what each tool pays once per run.
ab() {
    local name=$1 dir=$2 one=$3 jobs=$4
    wait_idle
    "$ABPY" "$BENCH/ab.py" --json "$RES/${name}_ab.json" "$AB_ROUNDS" \
        make="make -s -C $dir $jobs" \
        upkeep="$UPKEEP --manifest $dir/upkeep.toml --state-dir $dir/st run $jobs" \
        "upkeep:prepare=mv $dir/st $TRASH/st.\$(date +%s%N) 2>/dev/null || true" \
        make1="make -s -C $one $jobs" \
        upkeep1="$UPKEEP --manifest $one/upkeep.toml --state-dir $one/st run $jobs" \
        "upkeep1:prepare=mv $one/st $TRASH/st.\$(date +%s%N) 2>/dev/null || true"
}
ONE=$OUT/one
trash "$ONE"; "$PY" "$BENCH/gen.py" wide "$ONE" 1

# ---------------------------------------------------------------- 1. chain
say "1. chain of $N no-op modules: upkeep run -j1 (fresh state) vs make -j1"
C=$OUT/chain
trash "$C"; "$PY" "$BENCH/gen.py" chain "$C" "$N"
# sanity: one real run must succeed and apply all N
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" run -j1 >/dev/null 2>&1
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" --json plan >"$OUT/chain-plan.json"
"$PY" - "$OUT/chain-plan.json" "$N" <<'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
assert len(steps) == int(sys.argv[2]) and all(s["action"] == "up-to-date" for s in steps), "chain run did not apply every module"
EOF
hf chain_upkeep 1 7 -N --prepare "$(prepare_fresh "$C/st")" \
    -n "upkeep run -j1 (chain $N, fresh state)" "$UPKEEP --manifest $C/upkeep.toml --state-dir $C/st run -j1"
hf chain_make 1 7 -N -n "make -j1 (chain $N)" "make -s -C $C -j1"
# diagnostic: a later run (state dir, work dirs and ledger already there), every module
# forced: what a module costs on every run but the first
hf chain_upkeep_again 1 7 -N -n "upkeep run -j1 --force (chain $N, existing state)" \
    "$UPKEEP --manifest $C/upkeep.toml --state-dir $C/st run -j1 --force"
# diagnostic: the same with the state dir on tmpfs (no fsync, no ext4): what the ledger
# and the per-module files cost
if [[ -d /dev/shm && -w /dev/shm ]]; then
    SHM=/dev/shm/upkeep-bench-$$
    hf chain_upkeep_tmpfs 1 5 -N --prepare "rm -rf $SHM" \
        -n "upkeep run -j1 (chain $N, state on tmpfs)" "$UPKEEP --manifest $C/upkeep.toml --state-dir $SHM run -j1"
    rm -rf "$SHM"
fi
echo "interleaved: upkeep and make, chain of $N and a single module, $AB_ROUNDS rounds"
trash "$C/st"
ab chain "$C" "$ONE" -j1

# ---------------------------------------------------------------- 2. wide
say "2. $N independent no-op modules: upkeep run -j2 (fresh state) vs make -j2"
W=$OUT/wide
trash "$W"; "$PY" "$BENCH/gen.py" wide "$W" "$N"
hf wide_upkeep 1 7 -N --prepare "$(prepare_fresh "$W/st")" \
    -n "upkeep run -j2 (wide $N, fresh state)" "$UPKEEP --manifest $W/upkeep.toml --state-dir $W/st run -j2"
hf wide_make 1 7 -N -n "make -j2 (wide $N)" "make -s -C $W -j2"
"$UPKEEP" --manifest "$W/upkeep.toml" --state-dir "$W/st" run -j2 >/dev/null 2>&1
hf wide_upkeep_again 1 7 -N -n "upkeep run -j2 --force (wide $N, existing state)" \
    "$UPKEEP --manifest $W/upkeep.toml --state-dir $W/st run -j2 --force"
if [[ -d /dev/shm && -w /dev/shm ]]; then
    SHM=/dev/shm/upkeep-bench-$$
    hf wide_upkeep_tmpfs 1 5 -N --prepare "rm -rf $SHM" \
        -n "upkeep run -j2 (wide $N, state on tmpfs)" "$UPKEEP --manifest $W/upkeep.toml --state-dir $SHM run -j2"
    rm -rf "$SHM"
fi
echo "interleaved: upkeep and make, $N independent and a single module, $AB_ROUNDS rounds"
trash "$W/st"
ab wide "$W" "$ONE" -j2

# ---------------------------------------------------------------- 3. plan, up to date
say "3. up-to-date check over $N modules: upkeep plan vs make -q / ninja -n"
trash "$C/st"
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" run >/dev/null 2>&1
(cd "$C" && ninja >/dev/null)                       # creates o/* in dependency order
make -q -C "$C" -f Makefile.q || { echo "make -q: not up to date?" >&2; exit 1; }
(cd "$C" && ninja -n) | grep -q "no work to do" || { echo "ninja -n: not up to date?" >&2; exit 1; }
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" --json plan >"$OUT/plan.json"
"$PY" - "$OUT/plan.json" "$N" <<'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
todo = [s["name"] for s in steps if s["action"] != "up-to-date"]
assert len(steps) == int(sys.argv[2]) and not todo, f"plan not all up to date: {todo[:5]}"
EOF
hf plan_upkeep 3 30 -N -n "upkeep plan ($N up to date)" \
    "$UPKEEP --manifest $C/upkeep.toml --state-dir $C/st plan"
hf plan_make 3 30 -N -n "make -q ($N files up to date)" "make -q -C $C -f Makefile.q"
hf plan_ninja 3 30 -N -n "ninja -n ($N up to date)" "ninja -C $C -n"

# ---------------------------------------------------------------- 4. checksum throughput
say "4. checksum --check over $TREE_DIRS folders / ~$TREE_MB MB vs one openssl dgst -sha256"
T=$OUT/tree
stamp="$TREE_DIRS dirs $TREE_MB MB v2"
if [[ ! -f $T/.stamp || $(cat "$T/.stamp") != "$stamp" ]]; then
    trash "$T"; "$PY" "$BENCH/gen.py" tree "$T" "$TREE_DIRS" "$TREE_MB"
    echo "$stamp" >"$T/.stamp"
fi
trash "$T/st"
"$UPKEEP" --manifest "$T/upkeep.toml" --state-dir "$T/st" checksum --write >/dev/null
"$UPKEEP" --manifest "$T/upkeep.toml" --state-dir "$T/st" checksum --check >/dev/null
# The same files upkeep hashes (the `checksum` files it wrote are excluded from the digest).
(cd "$T" && find big* -type f ! -path '*/checksum' -print0 | sort -z >"$OUT/tree-files0")
nfiles=$(tr -cd '\0' <"$OUT/tree-files0" | wc -c)
tree_bytes=$(cd "$T" && xargs -0 stat -c %s <"$OUT/tree-files0" | awk '{s += $1} END {print s}')
XARGS="xargs -0 -n 100000 -s 2000000"
# prove that xargs starts exactly ONE openssl for all the files
calls=$(cd "$T" && $XARGS sh -c 'echo $#' sh <"$OUT/tree-files0")
[[ $calls == "$nfiles" ]] || { echo "xargs would split the openssl call: $calls" >&2; exit 1; }
echo "$nfiles files, $tree_bytes bytes, one openssl process"
hf sum_upkeep 2 8 -N -n "upkeep checksum --check" \
    "$UPKEEP --manifest $T/upkeep.toml --state-dir $T/st checksum --check"
hf sum_openssl 2 8 -n "openssl dgst -sha256 (1 process)" \
    "cd $T && $XARGS openssl dgst -sha256 <$OUT/tree-files0 >/dev/null"

# ---------------------------------------------------------------- 5. python module
say "5. one Python module: upkeep run --force vs a bare interpreter start"
P=$OUT/py
trash "$P/st" "$P/mod1" "$P/upkeep.toml"
"$PY" "$BENCH/gen.py" py "$P"
[[ -x $P/venv/bin/python ]] || "$PY" -m venv --without-pip "$P/venv"
VPY=$P/venv/bin/python
setup_py() {  # first run; a module folder may need its checksum approved first
    "$UPKEEP" --manifest "$1/upkeep.toml" --state-dir "$1/st" run >/dev/null 2>&1 || {
        "$UPKEEP" --manifest "$1/upkeep.toml" --state-dir "$1/st" checksum --write >/dev/null
        "$UPKEEP" --manifest "$1/upkeep.toml" --state-dir "$1/st" run >/dev/null 2>&1
    }
}
setup_py "$P"
echo "interpreter: $VPY -> $(readlink -f "$VPY")"
BARE="import sys; sys.path.insert(0, '$P'); import mod1.index as m; m.main([])"
# diagnostic: the venv's interpreter (no shim, no global site-packages) shows upkeep's own
# fixed cost against the shortest interpreter start there is
hf py_upkeep 5 30 -N -n "upkeep run --force (venv python)" \
    "$UPKEEP --manifest $P/upkeep.toml --state-dir $P/st run --force"
hf py_bare 5 30 -N -n "venv/bin/python -c import+main" "$VPY -c \"$BARE\""
# the issue's measurement: no venv, so python3 from PATH (a pyenv shim here: upkeep starts
# the first interpreter through it and resolves it by that start), against a bare
# `python3 -c 'import m; m.main([])'`
S=$OUT/pyshim
trash "$S"; "$PY" "$BENCH/gen.py" py "$S"
setup_py "$S"
shim=$(command -v python3)
echo "python3 on PATH: $shim ($(head -c 2 "$shim" | grep -q '#!' && echo 'a script: a version-manager shim' || echo 'a binary'))"
BARE_S="import sys; sys.path.insert(0, '$S'); import mod1.index as m; m.main([])"
hf py_upkeep_shim 3 20 -N -n "upkeep run --force (python3 on PATH)" \
    "$UPKEEP --manifest $S/upkeep.toml --state-dir $S/st run --force"
hf py_bare_shim 3 20 -N -n "python3 (PATH) -c import+main" "python3 -c \"$BARE_S\""
echo "interleaved: upkeep run --force and the bare start, $((AB_ROUNDS * 2)) rounds"
wait_idle
"$ABPY" "$BENCH/ab.py" --json "$RES/py_ab.json" "$((AB_ROUNDS * 2))" \
    bare="python3 -c \"$BARE_S\"" \
    upkeep="$UPKEEP --manifest $S/upkeep.toml --state-dir $S/st run --force"

# ---------------------------------------------------------------- report
cat >"$RES/meta.json" <<EOF
{"n": $N, "tree_bytes": $tree_bytes, "tree_mb": $TREE_MB, "tree_files": $nfiles, "tree_dirs": $TREE_DIRS,
 "since_cleanup_s": $since_cleanup}
EOF
say "results ($(nproc) cores, $(date -u +%FT%TZ), $("$UPKEEP" --version))"
"$PY" "$BENCH/gen.py" report "$RES" | tee "$RES/table.txt"

if [[ $KEEP != 1 ]]; then
    trash "$T"
    rm -rf "$TRASH"
    date +%s >"$OUT/.cleaned"
fi
