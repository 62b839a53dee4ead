#!/usr/bin/env bash
# Engine benchmarks: upkeep against its peers (make, ninja, openssl, bare python).
# See bench/README.md. Usage: bench/engine.sh   (env: N, TREE_MB, TREE_DIRS, KEEP=1, SKIP_BUILD=1)
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out
RES=$OUT/results
N=${N:-1000}
TREE_DIRS=${TREE_DIRS:-200}
TREE_MB=${TREE_MB:-500}
KEEP=${KEEP:-0}
PY=${PYTHON:-python3}   # only runs the generators and the report

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
mkdir -p "$OUT" "$RES"
rm -f "$RES"/*.json
# A private copy, so a concurrent rebuild cannot swap the binary mid-benchmark.
cp "$ROOT/target/release/upkeep" "$OUT/upkeep"
UPKEEP=$OUT/upkeep
"$UPKEEP" --version

# hyperfine wrapper: hf NAME [hyperfine args...] -- results in $RES/NAME.json
hf() {
    local name=$1; shift
    hyperfine --style basic --export-json "$RES/$name.json" "$@"
}

# ---------------------------------------------------------------- 1. chain
say "1. chain of $N no-op modules: upkeep run -j1 (fresh state) vs make -j1"
C=$OUT/chain
rm -rf "$C"; "$PY" "$BENCH/gen.py" chain "$C" "$N"
# sanity: one real run must succeed and run all N
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" run -j1 >/dev/null 2>&1
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" --json plan >"$OUT/chain-plan.json"
"$PY" - "$OUT/chain-plan.json" "$N" <<'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
assert len(steps) == int(sys.argv[2]) and all(s["action"] == "up-to-date" for s in steps), "chain run did not apply every module"
EOF
rm -rf "$C/st"
hf chain_upkeep -N --warmup 1 --runs 5 --prepare "rm -rf $C/st" \
    -n "upkeep run -j1 (chain $N)" "$UPKEEP --manifest $C/upkeep.toml --state-dir $C/st run -j1"
hf chain_make -N --warmup 1 --runs 5 -n "make -j1 (chain $N)" "make -s -C $C -j1"

# ---------------------------------------------------------------- 2. wide
say "2. $N independent no-op modules: upkeep run -j2 (fresh state) vs make -j2"
W=$OUT/wide
rm -rf "$W"; "$PY" "$BENCH/gen.py" wide "$W" "$N"
hf wide_upkeep -N --warmup 1 --runs 5 --prepare "rm -rf $W/st" \
    -n "upkeep run -j2 (wide $N)" "$UPKEEP --manifest $W/upkeep.toml --state-dir $W/st run -j2"
hf wide_make -N --warmup 1 --runs 5 -n "make -j2 (wide $N)" "make -s -C $W -j2"

# ---------------------------------------------------------------- 3. plan, up to date
say "3. up-to-date check over $N modules: upkeep plan vs make -q / ninja -n"
rm -rf "$C/st" "$C/o" "$C/.ninja_log" "$C/.ninja_deps"
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" run >/dev/null 2>&1
(cd "$C" && ninja >/dev/null)                       # creates o/*, in dependency order
make -q -C "$C" -f Makefile.q || { echo "make -q: not up to date?" >&2; exit 1; }
(cd "$C" && ninja -n) | grep -q "no work to do" || { echo "ninja -n: not up to date?" >&2; exit 1; }
"$UPKEEP" --manifest "$C/upkeep.toml" --state-dir "$C/st" --json plan >"$OUT/plan.json"
"$PY" - "$OUT/plan.json" "$N" <<'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
todo = [s["name"] for s in steps if s["action"] != "up-to-date"]
assert len(steps) == int(sys.argv[2]) and not todo, f"plan not all up to date: {todo[:5]}"
EOF
hf plan_upkeep -N --warmup 3 --runs 30 -n "upkeep plan ($N up to date)" \
    "$UPKEEP --manifest $C/upkeep.toml --state-dir $C/st plan"
hf plan_make -N --warmup 3 --runs 30 -n "make -q ($N files up to date)" "make -q -C $C -f Makefile.q"
hf plan_ninja -N --warmup 3 --runs 30 -n "ninja -n ($N up to date)" "ninja -C $C -n"

# ---------------------------------------------------------------- 4. checksum throughput
say "4. checksum --check over $TREE_DIRS folders / ~$TREE_MB MB vs one openssl dgst -sha256"
T=$OUT/tree
stamp="$TREE_DIRS dirs $TREE_MB MB v2"
if [[ ! -f $T/.stamp || $(cat "$T/.stamp") != "$stamp" ]]; then
    rm -rf "$T"; "$PY" "$BENCH/gen.py" tree "$T" "$TREE_DIRS" "$TREE_MB"
    echo "$stamp" >"$T/.stamp"
fi
rm -rf "$T/st"
"$UPKEEP" --manifest "$T/upkeep.toml" --state-dir "$T/st" checksum --write >/dev/null
"$UPKEEP" --manifest "$T/upkeep.toml" --state-dir "$T/st" checksum --check >/dev/null
# The same files upkeep hashes (the `checksum` files it wrote are excluded from the digest).
(cd "$T" && find big* -type f ! -path '*/checksum' -print0 | sort -z >"$OUT/tree-files0")
nfiles=$(tr -cd '\0' <"$OUT/tree-files0" | wc -c)
tree_bytes=$(cd "$T" && xargs -0 stat -c %s <"$OUT/tree-files0" | awk '{s += $1} END {print s}')
XARGS="xargs -0 -n 100000 -s 2000000"
# prove xargs starts exactly ONE openssl for all files
calls=$(cd "$T" && $XARGS sh -c 'echo $#' sh <"$OUT/tree-files0")
[[ $calls == "$nfiles" ]] || { echo "xargs would split the openssl call: $calls" >&2; exit 1; }
echo "$nfiles files, $tree_bytes bytes, one openssl process"
hf sum_upkeep -N --warmup 2 --runs 8 -n "upkeep checksum --check" \
    "$UPKEEP --manifest $T/upkeep.toml --state-dir $T/st checksum --check"
hf sum_openssl --warmup 2 --runs 8 -n "openssl dgst -sha256 (1 process)" \
    "cd $T && $XARGS openssl dgst -sha256 <$OUT/tree-files0 >/dev/null"
if [[ $KEEP != 1 ]]; then rm -rf "$T"; fi

# ---------------------------------------------------------------- 5. python module
say "5. one Python module: upkeep run --force vs a bare interpreter start"
P=$OUT/py
rm -rf "$P/st" "$P/mod1" "$P/upkeep.toml"
"$PY" "$BENCH/gen.py" py "$P"
[[ -x $P/venv/bin/python ]] || "$PY" -m venv --without-pip "$P/venv"
VPY=$P/venv/bin/python
"$UPKEEP" --manifest "$P/upkeep.toml" --state-dir "$P/st" run >/dev/null 2>&1 || {
    # a folder module may need its checksum approved first
    "$UPKEEP" --manifest "$P/upkeep.toml" --state-dir "$P/st" checksum --write >/dev/null
    "$UPKEEP" --manifest "$P/upkeep.toml" --state-dir "$P/st" run >/dev/null
}
BARE="import sys; sys.path.insert(0, '$P'); import mod1.index as m; m.main([])"
hf py_upkeep -N --warmup 5 --runs 30 -n "upkeep run --force (venv python)" \
    "$UPKEEP --manifest $P/upkeep.toml --state-dir $P/st run --force"
hf py_bare -N --warmup 5 --runs 30 -n "venv/bin/python -c import+main" "$VPY -c \"$BARE\""
# informational: the same without a venv, python3 from PATH (a pyenv shim here)
S=$OUT/pyshim
rm -rf "$S"; "$PY" "$BENCH/gen.py" py "$S"
"$UPKEEP" --manifest "$S/upkeep.toml" --state-dir "$S/st" run >/dev/null 2>&1 || {
    "$UPKEEP" --manifest "$S/upkeep.toml" --state-dir "$S/st" checksum --write >/dev/null
    "$UPKEEP" --manifest "$S/upkeep.toml" --state-dir "$S/st" run >/dev/null
}
BARE_S="import sys; sys.path.insert(0, '$S'); import mod1.index as m; m.main([])"
echo "python3 on PATH: $(command -v python3) ($(head -c 2 "$(command -v python3)" | grep -q '#!' && echo script || echo binary))"
hf py_upkeep_shim -N --warmup 2 --runs 10 -n "upkeep run --force (python3 on PATH)" \
    "$UPKEEP --manifest $S/upkeep.toml --state-dir $S/st run --force"
hf py_bare_shim -N --warmup 2 --runs 10 -n "python3 (PATH) -c import+main" "python3 -c \"$BARE_S\""

# ---------------------------------------------------------------- report
cat >"$RES/meta.json" <<EOF
{"n": $N, "tree_bytes": $tree_bytes, "tree_mb": $TREE_MB, "tree_files": $nfiles}
EOF
say "results ($(nproc) cores; $(date -u +%FT%TZ); upkeep $("$UPKEEP" --version | awk '{print $2}'))"
"$PY" "$BENCH/gen.py" report "$RES"
