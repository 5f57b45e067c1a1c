#!/usr/bin/env python3
"""The chaos probe's driver; run it through scripts/chaos.sh (which starts the registry
and sets TANTO_BIN, TANTO_CONFIG, TANTO_STATE_DIR, TANTO_RUN_DIR and CHAOS_WORK).

Phases (see docs/hardening.md):
  kills      kill -9 of `tanto session` engines, alternately while pipelines run and
             while a prune runs; every few kills a fresh engine checks that every
             pipeline gives its full, right answer (nothing half-recorded).
  prune      concurrent prune (two engines on the state dir) + N pipelines: 0 errors.
  malformed  N malformed requests to one engine: it keeps answering; its RSS is reported.
  leftovers  after a last engine started (it cleans up after the dead) and stopped:
             processes, mounts, run-dir files, tanto* links, iptables rules, slot files.
Exit status 1 on any failure or leftover.
"""

import argparse
import base64
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

TANTO = os.environ["TANTO_BIN"]
RUN_DIR = os.environ["TANTO_RUN_DIR"]
STATE_DIR = os.environ["TANTO_STATE_DIR"]
WORK = os.environ["CHAOS_WORK"]
SECRET = "chaos-secret-value"
LINES = 200
KEYS = 30  # distinct pipelines (so later runs hit what earlier, killed engines recorded)
MARKER = "chaos-marker"
MIB = 1 << 20

OURS = set()  # pids of the engines this run started
LOG = open(os.path.join(WORK, "sessions.log"), "ab", buffering=0)


def rss(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) // 1024
    except OSError:
        pass
    return out


class Session:
    """A `tanto session` engine."""

    def __init__(self):
        self.proc = subprocess.Popen([TANTO, "session"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=LOG)
        OURS.add(self.proc.pid)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"tanto session (pid {self.proc.pid}) exited: see {LOG.name}")
        params = json.loads(line)
        self.port, self.token = params["port"], params["session_token"]
        self.auth = base64.b64encode(f"{self.token}:".encode()).decode()

    def raw(self, body, headers=None, method="POST", path="/query", timeout=600):
        """(status, body bytes), or (None, error text) when the connection broke."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Authorization": f"Basic {self.auth}", "Content-Type": "application/json"}
        h.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except Exception as e:
            return None, str(e).encode()
        finally:
            conn.close()

    def query(self, text, timeout=600):
        """The answer's JSON, or None when the connection broke."""
        status, data = self.raw(json.dumps({"query": text}).encode(), timeout=timeout)
        if status is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return {"errors": [{"message": f"HTTP {status}: {data[:200]!r}"}]}

    def ids(self):
        v = self.query(f'{{ setSecret(name: "chaos", plaintext: "{SECRET}") {{ id }} cacheVolume(key: "chaos") {{ id }} }}')
        return v["data"]["setSecret"]["id"], v["data"]["cacheVolume"]["id"]

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()


def pipeline(k, secret, cache):
    """Pipeline `k`: a file of LINES lines written by a command that reads the secret
    and appends to the cache volume; every third one runs without the init (its
    container outlives a killed engine until the next engine starts)."""
    script = (f'n=0; while [ $n -lt {LINES} ]; do echo line-$K-$n; n=$((n+1)); done > /out.txt; '
              f'test "$(cat /run/s)" = {SECRET} || exit 9; echo $K >> /cache/log; sleep 0.2; : {MARKER}')
    return (f'{{ container {{ from(address: "busybox") {{ withMountedSecret(path: "/run/s", source: "{secret}") {{ '
            f'withMountedCache(path: "/cache", cache: "{cache}") {{ withEnvVariable(name: "K", value: "{k}") {{ '
            f'withExec(args: ["sh", "-c", {json.dumps(script)}], noInit: {json.dumps(k % 3 == 0)}) '
            f'{{ file(path: "/out.txt") {{ contents }} }} }} }} }} }} }} }}')


def expected(k):
    return "".join(f"line-{k}-{n}\n" for n in range(LINES))


def check_answer(k, v):
    """None when the answer is right, else what is wrong."""
    if v is None:
        return "no answer"
    if v.get("errors"):
        return v["errors"][0].get("message", "")[:300]
    try:
        got = v["data"]["container"]["from"]["withMountedSecret"]["withMountedCache"]["withEnvVariable"]["withExec"][
            "file"]["contents"]
    except (KeyError, TypeError):
        return f"malformed answer {str(v)[:200]}"
    return None if got == expected(k) else f"wrong contents for key {k} ({len(got)} bytes)"


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.failures = []
        self.counts = {}

    def fail(self, what):
        with self.lock:
            self.failures.append(what)
            print(f"  FAILURE: {what}", flush=True)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n


def run_pipelines(s, keys, secret, cache, tally, phase, expect_kill=False, parallel=4):
    """Runs pipelines for `keys` on `parallel` threads; returns the threads (not joined)."""
    keys = list(keys)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not keys:
                    return
                k = keys.pop()
            v = s.query(pipeline(k, secret, cache))
            if v is None and expect_kill:
                tally.count(f"{phase}: cut by the kill")
                continue
            wrong = check_answer(k, v)
            if wrong:
                tally.fail(f"{phase}: pipeline {k}: {wrong}")
            else:
                tally.count(f"{phase}: right answers")

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    return threads


def verify(tally, label):
    """A fresh engine: every pipeline key gives its full answer (cached or computed)."""
    s = Session()
    try:
        secret, cache = s.ids()
        for t in run_pipelines(s, range(KEYS), secret, cache, tally, f"verify after {label}", parallel=6):
            t.join()
    finally:
        s.stop()


def phase_kills(n, tally):
    print(f"== kills: {n} engines killed with SIGKILL (half during pipelines, half during prune)", flush=True)
    started = time.time()
    for i in range(n):
        during_prune = i % 2 == 1
        s = Session()
        secret, cache = s.ids()
        if during_prune:
            for t in run_pipelines(s, random.sample(range(KEYS), 2), secret, cache, tally, "kills"):
                t.join()
            done = {}

            def prune():
                done["v"] = s.query("{ engine { localCache { prune } } }")

            pt = threading.Thread(target=prune)
            pt.start()
            threads = run_pipelines(s, random.sample(range(KEYS), 3), secret, cache, tally, "kills", expect_kill=True)
            time.sleep(random.choice([0.0, 0.005, 0.02, random.uniform(0.0, 0.4)]))
            s.kill()
            pt.join()
            v = done.get("v")
            if v is None:
                tally.count("kills: prunes cut by the kill")
            elif v.get("errors"):
                tally.fail(f"kills: prune: {v['errors'][0].get('message', '')[:300]}")
            else:
                tally.count("kills: prunes done before the kill")
        else:
            threads = run_pipelines(s, random.sample(range(KEYS), 6), secret, cache, tally, "kills", expect_kill=True)
            time.sleep(random.uniform(0.05, 2.5))
            s.kill()
        for t in threads:
            t.join()
        tally.count("kills: engines killed")
        if (i + 1) % 10 == 0 or i + 1 == n:
            verify(tally, f"{i + 1} kills")
            print(f"  {i + 1}/{n} kills, {time.time() - started:.0f}s", flush=True)


def phase_prune(n, tally):
    print(f"== prune: {n} pipelines on one engine while two engines prune", flush=True)
    a, b = Session(), Session()
    peak = {}
    try:
        secret, cache = a.ids()
        stop = threading.Event()

        def pruner(s):
            while not stop.is_set():
                v = s.query("{ engine { localCache { prune } } }")
                if v is None or v.get("errors"):
                    tally.fail(f"prune: {(v or {}).get('errors', 'no answer')}")
                else:
                    tally.count("prune: prunes")
                time.sleep(0.1)

        pruners = [threading.Thread(target=pruner, args=(s,)) for s in (a, b)]
        for t in pruners:
            t.start()
        # each key several times: hits racing with prunes, and new computations
        keys = [i % KEYS for i in range(n)]
        random.shuffle(keys)
        for t in run_pipelines(a, keys, secret, cache, tally, "prune", parallel=8):
            t.join()
        stop.set()
        for t in pruners:
            t.join()
        peak = rss(a.proc.pid)
    finally:
        a.stop()
        b.stop()
    print(f"  engine RSS after the phase: {peak.get('VmRSS')} MiB (peak {peak.get('VmHWM')} MiB)", flush=True)
    return peak


def malformed_requests():
    """(kind, body, extra headers, method) of hostile requests, cycled."""
    q = lambda t: json.dumps({"query": t}).encode()
    deep = "{container{" + "".join(f'withEnvVariable(name:"A{i}",value:"x"){{' for i in range(20000)) + "id" + "}" * 20002
    return [
        ("bad json", b"{not json" * 100, None, "POST"),
        ("empty body", b"", None, "POST"),
        ("binary junk", bytes(random.getrandbits(8) for _ in range(4096)), None, "POST"),
        ("invalid utf-8", b'{"query": "{ version \xff\xfe }"}', None, "POST"),
        ("huge body", b"x" * (64 * MIB), None, "POST"),
        ("huge string", q('{ version a: __typename(x: "' + "x" * (20 * MIB) + '") }'), None, "POST"),
        ("syntax error", q("{ version " + "{" * 5000), None, "POST"),
        ("deep nesting", q(deep), None, "POST"),
        ("deep lists", q("{ container { withExec(args: " + "[" * 10000 + "]" * 10000 + ") { id } } }"), None, "POST"),
        ("many aliases", q("{" + " ".join(f"a{i}: version" for i in range(200000)) + "}"), None, "POST"),
        ("long list", q("{ container { withExec(args: [" + ",".join(['"x"'] * 300000) + "]) { id } } }"), None, "POST"),
        ("unknown field", q("{ nosuchfield { id } }"), None, "POST"),
        ("wrong argument type", q('{ container { withExec(args: 5) { id } } }'), None, "POST"),
        ("bad id", q('{ loadContainerFromID(id: "Container:nope") { id } }'), None, "POST"),
        ("null query", json.dumps({"query": None}).encode(), None, "POST"),
        ("bad variables", json.dumps({"query": "query($a: Int!) { version }", "variables": {"a": "x"}}).encode(), None, "POST"),
        ("fragment cycle", q("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"), None, "POST"),
        ("bad auth", q("{ version }"), {"Authorization": "Basic Zm9vOg=="}, "POST"),
        ("no auth", q("{ version }"), {"Authorization": ""}, "POST"),
        ("wrong method", b"", None, "DELETE"),
        ("wrong content type", q("{ version }"), {"Content-Type": "text/plain"}, "POST"),
    ]


def phase_malformed(n, tally, max_rss):
    print(f"== malformed: {n} hostile requests to one engine", flush=True)
    s = Session()
    try:
        ok = s.query("{ version }")
        idle = rss(s.proc.pid)
        kinds = malformed_requests()
        statuses = {}
        for i in range(n):
            kind, body, headers, method = kinds[i % len(kinds)]
            status, _ = s.raw(body, headers=headers, method=method, timeout=120)
            statuses[status] = statuses.get(status, 0) + 1
            if status is not None and status >= 500:
                tally.fail(f"malformed: {kind}: HTTP {status}")
            if s.proc.poll() is not None:
                tally.fail(f"malformed: the engine died at request {i} ({kind})")
                return {}
        time.sleep(2)
        alive = s.query("{ version }")
        if not alive or alive.get("errors") or not ok:
            tally.fail(f"malformed: the engine stopped answering: {alive}")
        after = rss(s.proc.pid)
        tally.count("malformed: requests", n)
        print(f"  HTTP statuses {dict(sorted(statuses.items(), key=str))}", flush=True)
        print(f"  RSS idle {idle.get('VmRSS')} MiB, after {after.get('VmRSS')} MiB, peak {after.get('VmHWM')} MiB",
              flush=True)
        if after.get("VmRSS", 0) > max_rss:
            tally.fail(f"malformed: RSS after the burst {after.get('VmRSS')} MiB > {max_rss} MiB")
        return {"idle": idle.get("VmRSS"), "after": after.get("VmRSS"), "peak": after.get("VmHWM")}
    finally:
        s.stop()


def foreign_slots():
    """Network slots of live engines this run did not start (other sessions on the host)."""
    out = set()
    try:
        names = os.listdir("/run/tanto/net")
    except OSError:
        return out
    for f in names:
        if not f.startswith("slot-"):
            continue
        try:
            pid = int(open(f"/run/tanto/net/{f}").read().split()[0])
            alive = os.path.exists(f"/proc/{pid}") and ") Z " not in open(f"/proc/{pid}/stat").read()
        except (OSError, ValueError, IndexError):
            continue
        if alive and pid not in OURS:
            out.add(f[len("slot-"):])
    return out


def leftovers():
    """What is left on the host of this run's engines, one line each."""
    left = []
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            zombie = ") Z " in open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if zombie:
            continue
        if int(pid) in OURS or MARKER in cmd or RUN_DIR in cmd:
            left.append(f"process {pid}: {cmd[:160]}")
    for line in open("/proc/self/mountinfo"):
        mnt = line.split(" ")[4]
        if mnt.startswith(RUN_DIR + "/") or mnt.startswith(STATE_DIR + "/"):
            left.append(f"mount {mnt}")
    for root, dirs, files in os.walk(RUN_DIR):
        for f in files:
            left.append(f"run-dir file {os.path.join(root, f)}")
        for d in dirs:
            p = os.path.join(root, d)
            if root == RUN_DIR and d in ("runtime", "secrets", "sockets", "exports"):
                continue
            left.append(f"run-dir entry {p}")
    foreign = foreign_slots()
    mine = lambda name: not any(re.fullmatch(rf"tanto{k}(v\d+)?", name) for k in foreign)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(": ")[1].split("@")[0]
        if re.fullmatch(r"tanto\d+(v\d+)?", name) and mine(name):
            left.append(f"link {name}")
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        for r in rules.splitlines():
            m = re.search(r"tanto:tanto(\d+)", r)
            if m and m.group(1) not in foreign:
                left.append(f"iptables({table}) {r}")
    try:
        for f in os.listdir("/run/tanto/net"):
            if f.startswith("slot-") and f[len("slot-"):] not in foreign:
                left.append(f"slot file /run/tanto/net/{f}")
    except OSError:
        pass
    return left


def main():
    ap = argparse.ArgumentParser(description="chaos probe of tanto engines (run through scripts/chaos.sh)")
    ap.add_argument("--kills", type=int, default=100, help="engines to kill (default 100)")
    ap.add_argument("--pipelines", type=int, default=100, help="pipelines while pruning (default 100)")
    ap.add_argument("--malformed", type=int, default=200, help="malformed requests (default 200)")
    ap.add_argument("--max-rss-mib", type=int, default=200, help="RSS allowed after the malformed burst")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work and run dirs (chaos.sh)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    print(f"chaos: tanto {TANTO}, seed {seed}, work {WORK}, run dir {RUN_DIR}", flush=True)
    tally = Tally()
    started = time.time()
    mem = {}
    try:
        phase_kills(args.kills, tally)
        phase_prune(args.pipelines, tally)
        mem = phase_malformed(args.malformed, tally, args.max_rss_mib)
    except Exception as e:
        tally.fail(f"the probe stopped: {e!r}")
    # a last engine cleans up after the dead ones; its own things go when it stops
    try:
        Session().stop()
    except Exception as e:
        tally.fail(f"the last engine: {e!r}")
    time.sleep(1)
    left = leftovers()
    print("== results", flush=True)
    for k, v in sorted(tally.counts.items()):
        print(f"  {k}: {v}")
    for l in left:
        print(f"  LEFTOVER: {l}")
    summary = {"seed": seed, "seconds": round(time.time() - started), "failures": len(tally.failures),
               "leftovers": len(left), "counts": tally.counts, "malformed_rss_mib": mem}
    print("CHAOS " + json.dumps(summary, sort_keys=True), flush=True)
    return 1 if tally.failures or left else 0


if __name__ == "__main__":
    sys.exit(main())
