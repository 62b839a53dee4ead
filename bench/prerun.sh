#!/usr/bin/env bash
# `upkeep prerun` with nothing to do against ae.updater's `check_all()` (from PyPI, in a
# virtualenv), both in an empty directory. See bench/README.md.
#
#   bench/prerun.sh            # SKIP_BUILD=1 to use target/release/upkeep as is
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/prerun
command -v hyperfine >/dev/null || { echo "missing hyperfine (apt-get install -y hyperfine)" >&2; exit 1; }

[[ ${SKIP_BUILD:-0} == 1 ]] || (cd "$ROOT" && cargo build --release --quiet)
mkdir -p "$OUT/app"
cp "$ROOT/target/release/upkeep" "$OUT/upkeep"
if [[ ! -x $OUT/venv/bin/python ]]; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install --quiet ae.updater
fi
AE_VERSION=$("$OUT/venv/bin/python" -c 'import ae.updater; print(ae.updater.__version__)')
echo "ae.updater $AE_VERSION, $("$OUT/upkeep" --version)"

cd "$OUT/app"
# One run each first, so the state directory exists (a first run creates the ledger).
"$OUT/upkeep" --state-dir "$OUT/state" prerun >/dev/null
hyperfine -N --warmup 10 --runs 100 --export-json "$OUT/results.json" \
    "$OUT/upkeep --state-dir $OUT/state prerun" \
    "$OUT/venv/bin/python -c 'import ae.updater; ae.updater.check_all()'" >/dev/null
python3 - "$OUT/results.json" <<'PY' | tee "$OUT/table.txt"
import json, sys
r = json.load(open(sys.argv[1]))["results"]
up, ae = r[0], r[1]
print(f"upkeep prerun (nothing to do)      {up['mean'] * 1000:6.2f} ms  (min {up['min'] * 1000:.2f})")
print(f"ae.updater check_all() via python  {ae['mean'] * 1000:6.2f} ms  (min {ae['min'] * 1000:.2f})")
print(f"ratio upkeep / ae.updater: {up['mean'] / ae['mean']:.3f}  (upkeep {ae['mean'] / up['mean']:.1f}x faster)")
PY
