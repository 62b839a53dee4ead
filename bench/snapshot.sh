#!/usr/bin/env bash
# Snapshot backup benchmark: the tree of bench/backup.sh (bench/gen_tree.py, same size and
# seed) in its own subvolume on a loop-mounted btrfs; upkeep's pre-update backup of it as a
# read-only snapshot and its rollback by swap, in milliseconds, beside a chunk-store backup
# (the default where no snapshot applies) and restore of the same tree on the same
# filesystem (`backup.snapshots = false`). Every
# timed command ends with `sync`; the rollback is checked byte-identical by digest.
# bench/backup.sh runs it at its end; it also runs alone.
#
#   sudo bench/snapshot.sh
#
# Needs root (loop device, mount) and btrfs-progs. Environment: TREE_MB (1024),
# RUNS (3), SKIP_BUILD=1 (use target/release/upkeep as is), UPKEEP (another binary).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/snapshot
TREE_MB=${TREE_MB:-1024}
RUNS=${RUNS:-3}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[[ $(id -u) == 0 ]] || { echo "snapshot bench skipped: needs root for a loop-mounted btrfs" >&2; exit 0; }
command -v mkfs.btrfs >/dev/null || { echo "snapshot bench skipped: no btrfs-progs (apt-get install -y btrfs-progs)" >&2; exit 0; }

[[ ${SKIP_BUILD:-0} == 1 ]] || (cd "$ROOT" && cargo build --release --quiet)
UPKEEP=${UPKEEP:-$ROOT/target/release/upkeep}

# A fresh filesystem each time, unmounted and detached whatever happens.
MNT=$OUT/mnt
cleanup() {
    umount -l "$MNT" 2>/dev/null || true
    [[ -n ${DEV:-} ]] && losetup -d "$DEV" 2>/dev/null || true
    rm -f "$OUT/btrfs.img"
}
trap cleanup EXIT
umount -l "$MNT" 2>/dev/null || true
rm -rf "$OUT" && mkdir -p "$MNT"
truncate -s "$((TREE_MB * 3 + 1024))M" "$OUT/btrfs.img"
mkfs.btrfs -q "$OUT/btrfs.img"
DEV=$(losetup --find --show "$OUT/btrfs.img")
mount "$DEV" "$MNT"
SRC=$MNT/tree
btrfs -q subvolume create "$SRC"

say "tree: $SRC (${TREE_MB} MiB, its own subvolume)"
python3 "$BENCH/gen_tree.py" "$SRC" --mb "$TREE_MB"
sync
digest() { (cd "$1" && find . \( -type f -o -type l \) -printf '%p %m %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
ORIGINAL=$(digest "$SRC")

cat > "$OUT/upkeep.toml" <<EOF
[[module]]
name = "tree"
command = ["true"]
paths = ["$SRC"]
EOF
UP=("$UPKEEP" --quiet --manifest "$OUT/upkeep.toml" --state-dir "$OUT/state" --config "$OUT/settings.toml")
"${UP[@]}" plan | grep -A1 '^Pre-update backups' || true

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; sync; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
change() { # rewrite the head of 1% of the files, as backup.sh's second backup does
    python3 - "$SRC" <<'EOF'
import os, random, sys
rng = random.Random(11)
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if not os.path.islink(os.path.join(d, f)))
for path in rng.sample(files, max(1, len(files) // 100)):
    with open(path, "r+b") as f:
        f.write(rng.randbytes(512))
EOF
    sync
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

# One round: back up, change 1% of the files, roll back to the backup; check the digest.
round() { # label
    local name=$1-$RANDOM backup restore format
    backup=$(ms "${UP[@]}" backup create --module tree --name "$name" --min-free 0)
    format=$("${UP[@]}" --json backup list | python3 -c "import json,sys; print(next(b['format'] for b in json.load(sys.stdin) if b['name'] == sys.argv[1]))" "$name")
    [[ $format == "$1" ]] || { echo "expected a $1 backup, got $format" >&2; exit 1; }
    change
    restore=$(ms "${UP[@]}" backup restore "$name" --yes --no-pre-backup)
    [[ $(digest "$SRC") == "$ORIGINAL" ]] || { echo "$1 rollback is not byte-identical" >&2; exit 1; }
    "${UP[@]}" backup delete "$name" --force >/dev/null
    echo "$backup $restore"
}

run() { # label: RUNS rounds, medians
    local b=() r=() i pair
    for ((i = 0; i < RUNS; i++)); do
        pair=$(round "$1"); b+=("${pair% *}"); r+=("${pair#* }")
    done
    echo "$(median "${b[@]}") $(median "${r[@]}")"
}

say "snapshot backup and rollback ($RUNS rounds, medians; each ends with sync)"
: > "$OUT/settings.toml"
read -r SNAP_BACKUP SNAP_RESTORE < <(run snapshot)
say "store backup and restore of the same tree on the same btrfs (backup.snapshots = false)"
printf '[backup]\nsnapshots = false\n' > "$OUT/settings.toml"
read -r ARCH_BACKUP ARCH_RESTORE < <(run store)

say "results"
echo "snapshot backup:  ${SNAP_BACKUP} ms"
echo "snapshot rollback: ${SNAP_RESTORE} ms (swap, byte-identical: digest $ORIGINAL)"
echo "store backup:     ${ARCH_BACKUP} ms"
echo "store restore:    ${ARCH_RESTORE} ms"
