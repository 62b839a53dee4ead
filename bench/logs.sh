#!/usr/bin/env bash
# A chatty module: what upkeep's log capture and `-v` streaming cost it. One Python module
# prints LINES lines (default 200,000, about 15 MB); timed bare (its output to /dev/null),
# under `upkeep run --force`, and under `upkeep run --force -v` (streamed to the terminal's
# stand-in, /dev/null). The issue's bar: `-v` does not slow the module more than 2x. See
# bench/README.md.
#
#   bench/logs.sh              # SKIP_BUILD=1 to use target/release/upkeep as is
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/logs
LINES=${LINES:-200000}
command -v hyperfine >/dev/null || { echo "missing hyperfine (apt-get install -y hyperfine)" >&2; exit 1; }

[[ ${SKIP_BUILD:-0} == 1 ]] || (cd "$ROOT" && cargo build --release --quiet)
rm -rf "$OUT" && mkdir -p "$OUT/updates/chatty"
cp "$ROOT/target/release/upkeep" "$OUT/upkeep"
cat > "$OUT/updates/chatty/index.py" <<PY
import sys
def main(args):
    out = sys.stdout
    for i in range($LINES):
        out.write(f"line {i}: the quick brown fox jumps over the lazy dog\n")
    out.flush()
PY
cat > "$OUT/updates/manifest.json" <<'JSON'
{"updates": [{"name": "chatty", "version": "1", "run": "every-run"}]}
JSON
U="$OUT/upkeep --manifest $OUT/updates/manifest.json --state-dir $OUT/state"
(cd "$OUT/updates" && $U checksum --write >/dev/null 2>&1)
$U run >/dev/null 2>&1
BARE="python3 -c 'import sys; sys.path.insert(0, \"$OUT/updates/chatty\"); import index; index.main([])'"
hyperfine --warmup 2 --runs 15 --export-json "$OUT/results.json" \
    --command-name bare "$BARE > /dev/null" \
    --command-name run "$U run --force > /dev/null 2>&1" \
    --command-name run-v "$U run --force -v > /dev/null 2>&1" >/dev/null
python3 - "$OUT/results.json" "$LINES" <<'PY' | tee "$OUT/table.txt"
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
bare, run, verbose = r["bare"]["mean"], r["run"]["mean"], r["run-v"]["mean"]
print(f"{sys.argv[2]} lines")
print(f"bare python (to /dev/null)   {bare * 1000:8.1f} ms")
print(f"upkeep run (log captured)    {run * 1000:8.1f} ms   {run / bare:.2f}x bare")
print(f"upkeep run -v (streamed)     {verbose * 1000:8.1f} ms   {verbose / bare:.2f}x bare, {verbose / run:.2f}x run")
print("PASS" if verbose / bare <= 2.0 else "FAIL", "-v within 2x of the bare module")
PY
