#!/usr/bin/env bash
# `upkeep serve` under load (issue 18, item 9), over the same lived-in N-module state as
# bench/status.sh: GET /api/v1/status with 64 concurrent clients (wrk), p99 against the
# 20 ms bar (plain and gzip-compressed) and against the one-shot `upkeep status --json` it
# replaces; a forced run of RUN_MODULES (200) modules watched by 0 and by 100 SSE clients
# (run time, bar: +10%; the server's CPU time during each run, from /proc; the watchers'
# own CPU, from the native client examples/sse_watchers.rs); the idle server's resident
# memory (bar: 30 MB). Each figure is printed with the load average when it was taken.
#
#   bench/serve.sh             # N=1000; SKIP_BUILD=1 to use target/release as is
#   RUN_MODULES=1000 REPS=5 bench/serve.sh
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/status
command -v wrk >/dev/null || { echo "missing wrk (apt-get install -y wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "missing curl (apt-get install -y curl)" >&2; exit 1; }

# The watchers: one native process of N streams (tokio, one thread), so that its own CPU
# on this 2-core machine is small beside the server's work it is there to cause.
[[ ${SKIP_BUILD:-0} == 1 ]] || (cd "$ROOT" && cargo build --release --quiet -p upkeep --example sse_watchers)
WATCH=$ROOT/target/release/examples/sse_watchers
[[ -x $WATCH ]] || { echo "missing $WATCH (run without SKIP_BUILD=1)" >&2; exit 1; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The lived-in state, and the one-shot command's own figures to compare with.
RUNS=${RUNS:-50} bash "$BENCH/status.sh"

U=("$OUT/upkeep" --manifest "$OUT/upkeep.toml" --state-dir "$OUT/state" --config "$OUT/settings.toml")
VIEWER=$("${U[@]}" token create bench-viewer --role viewer 2>/dev/null)
OWNER=$("${U[@]}" token create bench-owner --role owner 2>/dev/null)
"${U[@]}" serve --listen 127.0.0.1:0 2>"$OUT/serve.log" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$OUT/serve.log" && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$OUT/serve.log" | head -1)
[[ -n $ADDR ]] || { cat "$OUT/serve.log" >&2; exit 1; }

sleep 2
IDLE_KB=$(awk '/VmRSS/ {print $2}' "/proc/$SERVE/status")
IDLE_LOAD=$(loadavg)

WRK_LOAD=$(loadavg)
wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer $VIEWER" \
    "http://$ADDR/api/v1/status" >"$OUT/wrk.txt"
# As browsers and `curl --compressed` ask for it.
wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer $VIEWER" -H "Accept-Encoding: gzip" \
    "http://$ADDR/api/v1/status" >"$OUT/wrk-gzip.txt"
BODY=$(curl -sS -H "Authorization: Bearer $VIEWER" "http://$ADDR/api/v1/status" | wc -c)
GZBODY=$(curl -sS -H "Authorization: Bearer $VIEWER" -H "Accept-Encoding: gzip" "http://$ADDR/api/v1/status" | wc -c)

# A forced run of the first RUN_MODULES modules (each a pre-update backup, a process and
# its ledger rows), started through the API, watched by WATCHERS SSE clients from its
# first event; its time is the ledger's (started to finished), and the server's CPU time
# (user + system, ms) from the plan request to the run's end: the run itself is a thread
# of the server, so the difference between the two arms is the watchers' share.
RUN_MODULES=${RUN_MODULES:-200}
TICK=$(getconf CLK_TCK)
server_cpu_ms() { sed 's/.*) //' "/proc/$SERVE/stat" | awk -v t="$TICK" '{print ($12 + $13) * 1000 / t}'; }
# The HTTP side alone: the tokio threads (workers and blocking pool), without the run's own
# threads (upkeep-run, upkeep-ledger), from each thread's schedstat (ns on a CPU; the
# stat file's ticks are 10 ms, more than most of these threads use). `http_threads FILE`
# writes "tid ns" per thread; `http_cpu_ms BEFORE AFTER` sums what each thread alive at
# the end used since the first reading (a blocking thread that exits in between, after
# 10 s idle, takes its time with it, so this can only undercount).
http_threads() {
    local task on
    : >"$1"
    for task in /proc/"$SERVE"/task/*; do
        [[ $(cat "$task/comm" 2>/dev/null) == tokio-rt-worker ]] || continue
        read -r on _ <"$task/schedstat" 2>/dev/null || continue
        echo "${task##*/} $on" >>"$1"
    done
}
http_cpu_ms() { awk 'NR == FNR {before[$1] = $2; next} {sum += $2 - before[$1]} END {printf "%.0f\n", sum / 1e6}' "$1" "$2"; }
rm -f "$OUT/watchers.txt" "$OUT/replay.txt"
TARGETS=$(python3 -c 'import sys; print(",".join(f"m{i:04d}" for i in range(int(sys.argv[1]))))' "$RUN_MODULES")
TARGETS_JSON=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1].split(",")))' "$TARGETS")
timed_run() {
    local watchers=$1 plan digest id cpu http pids=()
    cpu=$(server_cpu_ms)
    http_threads "$OUT/threads-before"
    plan=$(curl -fsS -H "Authorization: Bearer $OWNER" "http://$ADDR/api/v1/plan?force=true&targets=$TARGETS")
    digest=$(printf '%s' "$plan" | python3 -c 'import json,sys; print(json.load(sys.stdin)["plan_digest"])')
    id=$(curl -fsS -H "Authorization: Bearer $OWNER" -H 'Content-Type: application/json' \
        -d "{\"plan_digest\": \"$digest\", \"targets\": $TARGETS_JSON, \"force\": true}" \
        "http://$ADDR/api/v1/runs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
    if ((watchers > 0)); then
        "$WATCH" "$ADDR" "$VIEWER" "$id" "$watchers" >>"$OUT/watchers.txt" &
        pids+=($!)
    fi
    while :; do
        run=$(curl -sS -H "Authorization: Bearer $VIEWER" "http://$ADDR/api/v1/runs/$id")
        printf '%s' "$run" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("finished_ms") else 1)' 2>/dev/null && break
        sleep 0.2
    done
    # Every watcher must have seen the same events ending with the summary.
    for p in "${pids[@]}"; do wait "$p" || { echo "the SSE watchers failed" >&2; exit 1; }; done
    cpu=$(awk -v a="$cpu" -v b="$(server_cpu_ms)" 'BEGIN {print b - a}')
    http_threads "$OUT/threads-after"
    http=$(http_cpu_ms "$OUT/threads-before" "$OUT/threads-after")
    printf '%s' "$run" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["finished_ms"] - r["started_ms"], *sys.argv[1:])' "$cpu" "$http" "$id"
}
# Alternated, REPS times each, and compared by their medians: a run's time varies more
# from one run to the next than the watchers could add.
ALONE=() WATCHED=() ALONE_CPU=() WATCHED_CPU=() ALONE_HTTP=() WATCHED_HTTP=()
timed_run 0 >/dev/null # warm-up: the first forced run also takes every module's first backup
RUN_LOAD=$(loadavg)
for _ in $(seq "${REPS:-5}"); do
    read -r ms cpu http id < <(timed_run 0)
    ALONE+=("$ms") ALONE_CPU+=("$cpu") ALONE_HTTP+=("$http")
    read -r ms cpu http id < <(timed_run 100)
    WATCHED+=("$ms") WATCHED_CPU+=("$cpu") WATCHED_HTTP+=("$http")
done
RUN_LOAD="$RUN_LOAD -> $(loadavg)"
# The serving cost without a run beside it: 100 watchers replaying the last (finished)
# run's whole stream, by the HTTP threads' CPU.
REPLAY=()
for _ in $(seq "${REPS:-5}"); do
    http_threads "$OUT/threads-before"
    "$WATCH" "$ADDR" "$VIEWER" "$id" 100 >>"$OUT/replay.txt"
    http_threads "$OUT/threads-after"
    REPLAY+=("$(http_cpu_ms "$OUT/threads-before" "$OUT/threads-after")")
done

tail -1 "$OUT/watchers.txt"
python3 - "$OUT" "$IDLE_KB" "$BODY" "$GZBODY" "$RUN_MODULES" "${ALONE[*]}" "${WATCHED[*]}" \
    "${ALONE_CPU[*]}" "${WATCHED_CPU[*]}" "${ALONE_HTTP[*]}" "${WATCHED_HTTP[*]}" \
    "$IDLE_LOAD" "$WRK_LOAD" "$RUN_LOAD" "${REPLAY[*]}" <<'PY' | tee "$OUT/serve.txt"
import json, re, statistics, sys
out = sys.argv[1]
idle_kb, body, gzbody, modules = map(int, sys.argv[2:6])
alone, watched = ([int(x) for x in arg.split()] for arg in sys.argv[6:8])
alone_cpu, watched_cpu = ([float(x) for x in arg.split()] for arg in sys.argv[8:10])
alone_http, watched_http = ([float(x) for x in arg.split()] for arg in sys.argv[10:12])
idle_load, wrk_load, run_load = sys.argv[12:15]
replay = [float(x) for x in sys.argv[15].split()]
clients = [float(m.group(1)) for m in re.finditer(r"own CPU: (\d+) ms", open(f"{out}/watchers.txt").read())]
per_event = re.findall(r"events each: \[(\d+)\]; stream bytes each: (\d+)", open(f"{out}/watchers.txt").read())
def ms(s):
    v, unit = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
one = json.load(open(f"{out}/results.json"))["results"][0]
t = sorted(one["times"]); one_p99 = t[min(len(t) - 1, int(0.99 * len(t)))] * 1000
for name, label, size in [("wrk", "JSON", body), ("wrk-gzip", "gzip", gzbody)]:
    wrk = open(f"{out}/{name}.txt").read()
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", wrk, re.M).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", wrk, re.M).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
    print(f"GET /api/v1/status ({label}, {size / 1024:.0f} KiB), 64 clients: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"{rps:.0f} req/s ({'PASS' if p99 <= 20 else 'FAIL'} p99 <= 20 ms); one-shot status --json p99 "
          f"{one_p99:.1f} ms, ratio {p99 / one_p99:.2f} [load {wrk_load}]")
base, with_watchers = statistics.median(alone), statistics.median(watched)
print(f"forced run of {modules} modules, median of {len(alone)}: {base:.0f} ms alone {alone}, "
      f"{with_watchers:.0f} ms with 100 SSE watchers {watched}: {(with_watchers / base - 1) * 100:+.1f}% "
      f"({'PASS' if with_watchers <= base * 1.10 else 'FAIL'} <= +10%) [load {run_load}]")
cpu_base, cpu_watched = statistics.median(alone_cpu), statistics.median(watched_cpu)
print(f"server CPU per run, median: {cpu_base:.0f} ms alone {alone_cpu}, {cpu_watched:.0f} ms watched {watched_cpu}: "
      f"{cpu_watched - cpu_base:+.0f} ms for 100 watchers ({(cpu_watched - cpu_base) / base * 100:+.1f}% of the run's time)")
http_base, http_watched = statistics.median(alone_http), statistics.median(watched_http)
print(f"its HTTP threads' CPU per run (the run's own threads left out), median: {http_base:.0f} ms alone {alone_http}, "
      f"{http_watched:.0f} ms watched {watched_http}: {http_watched - http_base:+.0f} ms for 100 watchers "
      f"({(http_watched - http_base) / base * 100:+.1f}% of the run's time)")
if clients:
    events, size = map(int, per_event[-1])
    print(f"the watchers' client's own CPU per run, median: {statistics.median(clients):.0f} ms {clients}; "
          f"{events} events, {size} bytes per watcher ({size / events:.0f} bytes per event)")
print(f"100 watchers replaying the finished run's stream: the HTTP threads' CPU, median {statistics.median(replay):.0f} ms {replay}")
print(f"idle serve resident memory: {idle_kb / 1024:.1f} MB ({'PASS' if idle_kb <= 30 * 1024 else 'FAIL'} <= 30 MB) [load {idle_load}]")
PY
