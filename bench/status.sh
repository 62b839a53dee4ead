#!/usr/bin/env bash
# `upkeep status --json` over a generated N-module manifest with a lived-in ledger: every
# module owns a path (so each has a pre-update backup), every fourth has an update source
# that was checked, every tenth needs the module before it, three full backups, a
# schedule that ran, a command channel with delivered notifications. The HTTP API's
# `GET /api/v1/status` serves this report, aiming at p99 <= 20 ms (issue 18, item 9).
#
#   bench/status.sh            # N=1000; SKIP_BUILD=1 to use target/release/upkeep as is
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/status
N=${N:-1000}
command -v hyperfine >/dev/null || { echo "missing hyperfine (apt-get install -y hyperfine)" >&2; exit 1; }

[[ ${SKIP_BUILD:-0} == 1 ]] || (cd "$ROOT" && cargo build --release --quiet -p upkeep)
rm -rf "$OUT"
mkdir -p "$OUT/data"
cp "$ROOT/target/release/upkeep" "$OUT/upkeep"

python3 - "$OUT" "$N" <<'PY'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
parts = []
for i in range(n):
    name = f"m{i:04d}"
    data = os.path.join(out, "data", name)
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "conf"), "w") as f:
        f.write(f"{name}\n")
    text = f'[[module]]\nname = "{name}"\nversion = "1.0.0"\ncommand = ["true"]\npaths = ["{data}"]\n'
    if i % 4 == 0:
        text += 'source = { type = "command", command = ["echo", "1.0.1"] }\n'
    if i % 10 == 9:
        text += f'depends_on = ["m{i - 1:04d}"]\n'
    parts.append(text)
with open(os.path.join(out, "upkeep.toml"), "w") as f:
    f.write("\n".join(parts))
with open(os.path.join(out, "settings.toml"), "w") as f:
    f.write('[channels.log]\nkind = "command"\nargv = ["true"]\n')
PY

U=("$OUT/upkeep" --manifest "$OUT/upkeep.toml" --state-dir "$OUT/state" --config "$OUT/settings.toml")
"${U[@]}" schedule add nightly --daily 03:00 --tz UTC >/dev/null
"${U[@]}" run --scheduled nightly --min-free 0 >/dev/null 2>&1
for _ in 1 2 3; do "${U[@]}" backup create --min-free 0 >/dev/null 2>&1; done
"${U[@]}" check >/dev/null 2>&1 || true
"${U[@]}" notify flush >/dev/null 2>&1 || true
"${U[@]}" status --json >"$OUT/status.json"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['modules']), 'modules, state', r['state'], [x['code'] for x in r['reasons']])" "$OUT/status.json"

hyperfine -N --warmup 10 --runs "${RUNS:-200}" --export-json "$OUT/results.json" \
    "${U[*]} status --json" >/dev/null
python3 - "$OUT/results.json" <<'PY' | tee "$OUT/table.txt"
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = sorted(r["times"])
p = lambda q: t[min(len(t) - 1, int(q * len(t)))] * 1000
print(f"upkeep status --json: mean {r['mean'] * 1000:.1f} ms, p50 {p(0.5):.1f} ms, "
      f"p99 {p(0.99):.1f} ms, min {r['min'] * 1000:.1f} ms ({len(t)} runs)")
PY
