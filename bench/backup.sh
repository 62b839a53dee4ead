#!/usr/bin/env bash
# Backup and restore benchmark: upkeep against `tar -czf` (the seed's format),
# `tar -I 'zstd -T0'` and restic, on the same tree, each ending with `sync`.
# See bench/README.md.
#
#   bench/backup.sh
#
# Environment: TREE_MB (size of the generated tree, 1024), RUNS (runs per benchmark, 3),
# SKIP_BUILD=1 (use target/release/upkeep as is), KEEP=1 (keep the tree for the next run).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/backup
RES=$OUT/results
TREE_MB=${TREE_MB:-1024}
RUNS=${RUNS:-3}
SRC=$OUT/src
export RESTIC_PASSWORD=bench
export RESTIC_CACHE_DIR=$OUT/restic-cache

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "missing $1 (apt-get install -y $2)" >&2; exit 1; }; }
need hyperfine hyperfine; need restic restic; need zstd zstd; need tar tar; need cargo cargo

say "cargo build --release"
[[ ${SKIP_BUILD:-0} == 1 ]] || (cd "$ROOT" && cargo build --release --quiet)
mkdir -p "$OUT" "$RES"
rm -f "$RES"/*.json
cp "$ROOT/target/release/upkeep" "$OUT/upkeep.new" && mv "$OUT/upkeep.new" "$OUT/upkeep"
UPKEEP=$OUT/upkeep

say "tree: $SRC (${TREE_MB} MiB)"
if [[ ! -f $OUT/tree.ok || $(cat "$OUT/tree.ok") != "$TREE_MB" ]]; then
    rm -rf "$SRC"
    python3 "$BENCH/gen_tree.py" "$SRC" --mb "$TREE_MB"
    echo "$TREE_MB" > "$OUT/tree.ok"
fi
digest() { (cd "$1" && find . \( -type f -o -type l \) -printf '%p %m %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
ORIGINAL=$(digest "$SRC")
BYTES=$(du -sb --apparent-size "$SRC" | cut -f1)
FILES=$(find "$SRC" -type f | wc -l)
echo "$FILES files, $BYTES bytes, digest $ORIGINAL"

cat > "$OUT/upkeep.toml" <<EOF
[[module]]
name = "tree"
command = ["true"]
paths = ["$SRC"]
EOF
UP=("$UPKEEP" --manifest "$OUT/upkeep.toml" --state-dir "$OUT/state")
sync

# Deleting tens of thousands of files right before creating as many makes ext4 without a
# journal slow to allocate inodes for minutes (see bench/README.md, engine.sh): restores
# would measure the previous run's cleanup. Old trees are moved into $TRASH instead and
# the trash is emptied at the end.
TRASH=$OUT/trash
mkdir -p "$TRASH"
export TRASH
aside() { [[ -e $1 ]] && mv "$1" "$TRASH/$(basename "$1").$(date +%s%N)" || true; }
export -f aside

bench() { # name, prepare, command[, runs]
    hyperfine --shell bash --runs "${4:-$RUNS}" --export-json "$RES/$1.json" --prepare "$2" "$3" >/dev/null
    python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'{sys.argv[2]:<28} {r[\"mean\"]:7.2f} s  ±{r[\"stddev\"] or 0:.2f}')" "$RES/$1.json" "$1"
}

say "backup (each ends with sync; page cache warm)"
bench tar-gz-backup "rm -f $OUT/t.tar.gz; sync" "tar -czf $OUT/t.tar.gz -C $SRC . && sync"
bench tar-zstd-backup "rm -f $OUT/t.tar.zst; sync" "tar -I 'zstd -T0' -cf $OUT/t.tar.zst -C $SRC . && sync"
bench restic-backup "rm -rf $OUT/repo && restic -q -r $OUT/repo init >/dev/null; sync" "restic -q -r $OUT/repo backup $SRC >/dev/null && sync"
bench upkeep-backup "rm -rf $OUT/state; sync" "${UP[*]} backup create --name bench --min-free 0 >/dev/null && sync"
SIZE_GZ=$(stat -c %s "$OUT/t.tar.gz"); SIZE_ZST=$(stat -c %s "$OUT/t.tar.zst")
SIZE_RESTIC=$(du -sb "$OUT/repo" | cut -f1)
# The store (the default format) keeps its packs under state/store; an archive backup
# would be the one file in state/backups.
store_bytes() { du -sb "$OUT/state/store" "$OUT/state/backups" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
SIZE_UPKEEP=$(store_bytes)
"${UP[@]}" backup verify bench >/dev/null

say "restore (into an empty place; each ends with sync)"
bench tar-gz-restore "aside $OUT/r-gz && mkdir $OUT/r-gz; sync" "tar -xzf $OUT/t.tar.gz -C $OUT/r-gz && sync"
bench tar-zstd-restore "aside $OUT/r-zst && mkdir $OUT/r-zst; sync" "tar -I 'zstd -T0' -xf $OUT/t.tar.zst -C $OUT/r-zst && sync"
bench restic-restore "aside $OUT/r-restic; sync" "restic -q -r $OUT/repo restore latest --target $OUT/r-restic >/dev/null && sync"
# upkeep restores in place: the tree itself is removed before each run and restored.
bench upkeep-restore "aside $SRC; sync" "${UP[*]} backup restore bench --yes --no-pre-backup >/dev/null && sync"
RESTORED=$(digest "$SRC")
RESTIC_RESTORED=$(digest "$OUT/r-restic$SRC")
echo "digests: original $ORIGINAL, upkeep restore $RESTORED, restic restore $RESTIC_RESTORED"
[[ $RESTORED == "$ORIGINAL" ]] || { echo "upkeep's restore is not byte-identical" >&2; exit 1; }

say "second backup with nothing changed"
# The restores above gave every file a new inode and ctime: one untimed backup each first,
# so the next one compares against a parent of the tree as it now is.
restic -q -r "$OUT/repo" backup "$SRC" >/dev/null
"${UP[@]}" backup create --name settle --min-free 0 >/dev/null
sync
REPO0=$(du -sb "$OUT/repo" | cut -f1); UP0=$(store_bytes)
# Five runs each (nothing changes between them); bytes added are per backup.
bench restic-unchanged-backup "true" "restic -q -r $OUT/repo backup $SRC >/dev/null && sync" 5
bench upkeep-unchanged-backup "true" "${UP[*]} backup create --name unchanged --min-free 0 >/dev/null && sync" 5
REPO_UNCHANGED=$(( ($(du -sb "$OUT/repo" | cut -f1) - REPO0) / 5 )); UP_UNCHANGED=$(( ($(store_bytes) - UP0) / 5 ))

change() { # change 1% of the files (seeded), as an update would
python3 - "$SRC" "$1" <<'EOF2'
import os, random, sys
rng = random.Random(int(sys.argv[2]))
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if not os.path.islink(os.path.join(d, f)))
for path in rng.sample(files, max(1, len(files) // 100)):
    with open(path, "r+b") as f:
        f.seek(0)
        f.write(rng.randbytes(512))
EOF2
sync
}

say "second backup after changing 1% of the files"
change 11
REPO_BEFORE=$(du -sb "$OUT/repo" | cut -f1); UP_BEFORE=$(store_bytes)
bench restic-second-backup "true" "restic -q -r $OUT/repo backup $SRC >/dev/null && sync" 1
REPO_AFTER=$(du -sb "$OUT/repo" | cut -f1)
bench upkeep-second-backup "true" "${UP[*]} backup create --name second --min-free 0 >/dev/null && sync" 1
SIZE_UPKEEP2=$(( $(store_bytes) - UP_BEFORE ))

say "ten successive backups, 1% changed before each"
for i in $(seq 1 10); do
    change $((100 + i))
    restic -q -r "$OUT/repo" backup "$SRC" >/dev/null
    "${UP[@]}" backup create --name "series-$i" --min-free 0 >/dev/null
done
sync
REPO_TEN=$(du -sb "$OUT/repo" | cut -f1); UP_TEN=$(store_bytes)
[[ ${KEEP:-0} == 1 ]] || { rm -rf "$SRC" "$OUT/tree.ok"; }
rm -rf "$OUT/r-gz" "$OUT/r-zst" "$OUT/r-restic" "$TRASH"

say "results"
python3 - "$RES" "$BYTES" "$SIZE_GZ" "$SIZE_ZST" "$SIZE_RESTIC" "$SIZE_UPKEEP" "$REPO_BEFORE" "$REPO_AFTER" "$SIZE_UPKEEP2" "$REPO_UNCHANGED" "$UP_UNCHANGED" "$REPO_TEN" "$UP_TEN" <<'EOF' | tee "$RES/table.txt"
import json, sys
res, total, gz, zst, restic, up, repo0, repo1, up2, repo_same, up_same, repo_ten, up_ten = sys.argv[1], *map(int, sys.argv[2:])
mean = lambda n: json.load(open(f"{res}/{n}.json"))["results"][0]["mean"]
mbps = lambda n: total / mean(n) / 1e6
print(f"tree: {total / 1e6:.0f} MB")
print(f"{'':<18}{'backup MB/s':>12}{'size MB':>10}{'restore MB/s':>14}")
for name, size in [("tar -czf", gz), ("tar zstd -T0", zst), ("restic", restic), ("upkeep", up)]:
    key = {"tar -czf": "tar-gz", "tar zstd -T0": "tar-zstd", "restic": "restic", "upkeep": "upkeep"}[name]
    print(f"{name:<18}{mbps(key + '-backup'):>12.0f}{size / 1e6:>10.1f}{mbps(key + '-restore'):>14.0f}")
print()
print(f"backup  upkeep / tar zstd -T0 speed: {mean('tar-zstd-backup') / mean('upkeep-backup'):.2f}x  (target >= 1.00)")
print(f"backup  upkeep / tar -czf speed:     {mean('tar-gz-backup') / mean('upkeep-backup'):.2f}x")
print(f"size    upkeep / tar zstd -T0:       {up / zst:.3f}  (target <= 1.03)")
print(f"restore upkeep / restic speed:       {mean('restic-restore') / mean('upkeep-restore'):.2f}x  (target >= 1.00)")
print(f"second backup, nothing changed: restic {mean('restic-unchanged-backup'):.2f} s, +{repo_same / 1e6:.2f} MB; "
      f"upkeep {mean('upkeep-unchanged-backup'):.2f} s, +{up_same / 1e6:.2f} MB  (target <= 0.3 s, <= 1 MB)")
print(f"second backup after 1% changed: restic {mean('restic-second-backup'):.2f} s, +{(repo1 - repo0) / 1e6:.1f} MB; "
      f"upkeep {mean('upkeep-second-backup'):.2f} s, +{up2 / 1e6:.1f} MB")
print(f"  time upkeep / restic: {mean('upkeep-second-backup') / mean('restic-second-backup'):.2f}  (target <= 1.00); "
      f"bytes upkeep / restic: {up2 / max(1, repo1 - repo0):.2f}  (target <= 1.20)")
print(f"after ten more 1% changes: restic repository {repo_ten / 1e6:.1f} MB, upkeep store {up_ten / 1e6:.1f} MB, "
      f"ratio {up_ten / repo_ten:.2f}  (target <= 1.30)")
EOF

# The btrfs part (issue 19, item 5): the same tree in its own subvolume on a loop-mounted
# btrfs, a snapshot backup and its rollback by swap, in milliseconds. Its own script, so
# that it runs alone too (it needs root and btrfs-progs, and says so when they are missing).
say "btrfs snapshot backup and rollback (bench/snapshot.sh)"
SKIP_BUILD=1 TREE_MB=$TREE_MB RUNS=$RUNS "$BENCH/snapshot.sh"
