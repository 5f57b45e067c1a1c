#!/usr/bin/env bash
# Leak check of networking and services: N sessions (default 20) of the official Python
# SDK that each bind a busybox httpd service and fetch from it, then a session whose
# engine is killed with SIGKILL while its service and a client step run, then one more
# session (the restart that cleans up). After each phase it lists what tanto has on the
# host: links named tanto*, named network namespaces, iptables rules tagged tanto:, slot
# files; exits 1 when anything is left after the last phase.
#   TANTO_BIN=/abs/tanto PYTHON=/path/to/venv/bin/python scripts/net-leak-check.sh [N]
# PYTHON needs dagger-io 0.21.11 (the conformance venv has it). Needs root and the
# tanto-fixtures binary next to TANTO_BIN (cargo build -p tanto-testkit).
set -euo pipefail
n=${1:-20}
: "${TANTO_BIN:?set TANTO_BIN to the tanto binary}"
PYTHON=${PYTHON:-$HOME/.cache/tanto-conformance/venv/bin/python}
fixtures="$(dirname "$TANTO_BIN")/tanto-fixtures"
work=$(mktemp -d)
trap '"$fixtures" stop --dir "$work/reg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$("$fixtures" serve --dir "$work/reg")"
export TANTO_CONFIG _EXPERIMENTAL_DAGGER_CLI_BIN="$TANTO_BIN" TANTO_STATE_DIR="$work/state"

# Slots of live engines this script did not start (other sessions on the host) are
# not ours to judge: their state is left out.
foreign() {
  for f in /run/tanto/net/slot-*; do
    [ -e "$f" ] || continue
    read -r pid start <"$f"
    if [ -e "/proc/$pid" ] && ! grep -q ') Z ' "/proc/$pid/stat" 2>/dev/null && ! grep -qx "$pid" "$work/ours" 2>/dev/null; then
      echo "${f##*/slot-}"
    fi
  done
}

state() {
  local skip; skip=$(foreign | sed 's/.*/tanto&([v ":]|$)|slot-&$/' | paste -sd'|')
  { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^tanto[0-9]+(v[0-9]+)?$' | sed 's/^/link /' || true
    ip netns list | sed 's/^/netns /'
    for t in filter nat; do iptables-save -t "$t" | grep -F 'tanto:tanto' | sed "s/^/rule($t) /" || true; done
    ls /run/tanto/net 2>/dev/null | grep '^slot-' | sed 's/^/file /' || true; } | { if [ -n "$skip" ]; then grep -Ev "$skip" || true; else cat; fi; }
}

cat >"$work/session.py" <<'EOF'
import sys, anyio, dagger
from dagger import dag

async def main(mode):
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        www = (dag.container().from_("busybox:1.36").with_new_file("/srv/index.html", "hello-svc")
               .with_workdir("/srv").with_exposed_port(8080)
               .as_service(args=["httpd", "-f", "-p", "8080", "-h", "/srv"]))
        client = dag.container().from_("busybox:1.36").with_service_binding("www", www)
        if mode == "hang":
            await www.start()
            print("ready", flush=True)
            await client.with_exec(["sh", "-c", "wget -qO- http://www:8080/index.html; sleep 600"]).sync()
        else:
            out = await client.with_env_variable("RUN", mode).with_exec(["wget", "-qO-", "http://www:8080/index.html"]).stdout()
            assert out == "hello-svc", out

anyio.run(main, sys.argv[1])
EOF

echo "== before: $(state | wc -l) items"
t0=$(date +%s.%N)
for i in $(seq "$n"); do "$PYTHON" "$work/session.py" "run-$i-$$" 2>>"$work/log" || { cat "$work/log"; exit 1; }; done
echo "== after $n sessions ($(echo "$(date +%s.%N) - $t0" | bc) s):"; state

"$PYTHON" "$work/session.py" hang >"$work/hang.out" 2>>"$work/log" &
client=$!
for _ in $(seq 300); do grep -q ready "$work/hang.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
engine=$(pgrep -f "^$TANTO_BIN session" | tail -1)
echo "$engine" >>"$work/ours"
echo "== killing the engine (pid $engine) with SIGKILL mid-session; left behind:"
kill -9 "$engine"
sleep 0.5
state
kill "$client" 2>/dev/null || true
wait "$client" 2>/dev/null || true

"$PYTHON" "$work/session.py" restart 2>>"$work/log"
echo "== after the restart session:"
left=$(state)
echo "${left:-(nothing)}"
[ -z "$left" ]
