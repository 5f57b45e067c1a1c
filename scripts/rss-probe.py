#!/usr/bin/env python3
"""Memory of a `tanto session` under a burst of hostile requests.

Starts `tanto session` (TANTO_BIN, default target/debug/tanto) with a fresh state dir, sends
rounds of malformed, huge or deep requests, and prints the session's VmRSS after each kind of
request and its peak (VmHWM). The engine must keep answering (a `{ version }` probe after each
kind), and RSS after the burst should come back near idle.

    scripts/rss-probe.py [--rounds N] [--kinds a,b,...]

Exit status 1 when the engine stopped answering or RSS after the burst stays above
--max-final-mib (default 200).
"""

import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def post(port, token, body, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    auth = base64.b64encode(f"{token}:".encode()).decode()
    try:
        conn.request("POST", "/query", body=body, headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data
    except Exception as e:  # the server may close on a body it refuses
        return None, str(e).encode()
    finally:
        conn.close()


def q(text, variables=None):
    body = {"query": text}
    if variables is not None:
        body["variables"] = variables
    return json.dumps(body).encode()


def chain(depth, leaf="id", base='from(address:"x")'):
    inner = "".join(f'withEnvVariable(name:"A{i}",value:"{i}"){{' for i in range(depth))
    return "{container{" + base + "{" + inner + leaf + "}" * (depth + 3)


def fragment_bomb(levels):
    frags = ["fragment F0 on Query { a: container { ...F1 } b: container { ...F1 } }"]
    for i in range(1, levels):
        frags.append(f'fragment F{i} on Container {{ a: withWorkdir(path: "/a") {{ ...F{i + 1} }} '
                     f'b: withWorkdir(path: "/b") {{ ...F{i + 1} }} }}')
    frags.append(f"fragment F{levels} on Container {{ workdir }}")
    return "{ ...F0 } " + " ".join(frags)


MIB = 1 << 20

KINDS = {
    # name: (request body, how many per round)
    "bad-json": (lambda: b"{not json" * 1000, 48),
    "huge-string": (lambda: q('{ version a: __typename(x: "' + "x" * (30 * MIB) + '") }'), 4),
    "huge-body-junk": (lambda: b"x" * (64 * MIB), 4),
    "big-string-ok": (lambda: q('{ container { withNewFile(path: "/f", contents: "' + "x" * (6 * MIB) + '") { id } } }'), 8),
    "many-aliases": (lambda: q("{" + " ".join(f"a{i}: version" for i in range(200_000)) + "}"), 4),
    "many-aliases-ok": (lambda: q("{" + " ".join(f"a{i}: version" for i in range(90_000)) + "}"), 4),
    "long-list": (lambda: q('{ container { withExec(args: [' + ",".join(['"x"'] * 500_000) + ']) { id } } }'), 4),
    "long-list-ok": (lambda: q('{ container { withExec(args: [' + ",".join(['"x"'] * 90_000) + ']) { id } } }'), 4),
    "list-variable": (lambda: q("query($a: [String!]!) { container { withExec(args: $a) { id } } }", {"a": ["x"] * 500_000}), 4),
    "deep-nesting": (lambda: q(chain(30_000)), 4),
    "deep-chain-ok": (lambda: q(chain(10_000, leaf='envVariable(name:"A9999")', base="withWorkdir(path:\"/\")")), 2),
    "deep-list": (lambda: q("{ container { withExec(args: " + "[" * 10_000 + "]" * 10_000 + ") { id } } }"), 4),
    "syntax-errors": (lambda: q("{ version " + "{" * 5000), 48),
    "introspection-bomb": (lambda: q("{ __schema { types { fields { type { ofType { fields { type { ofType { fields { type { ofType { fields { name } } } } } } } } } } } } }"), 4),
    "fragment-bomb": (lambda: q(fragment_bomb(22)), 4),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--parallel", type=int, default=4, help="concurrent requests per kind")
    ap.add_argument("--max-final-mib", type=int, default=200)
    args = ap.parse_args()

    tanto = os.environ.get("TANTO_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "debug", "tanto"))
    state = tempfile.mkdtemp(prefix="tanto-rss-")
    env = dict(os.environ, TANTO_STATE_DIR=state)
    proc = subprocess.Popen([tanto, "session"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        line = proc.stdout.readline()
        params = json.loads(line)
        port, token = params["port"], params["session_token"]
        ok = post(port, token, q("{ version }"))
        idle = status(proc.pid)
        print(f"idle: VmRSS {idle['VmRSS'] // 1024} MiB; {{ version }} -> {ok[0]}")
        failures = 0
        for r in range(args.rounds):
            for kind in args.kinds.split(","):
                make, n = KINDS[kind]
                body = make()
                started = time.time()
                results = []

                def worker(count):
                    for _ in range(count):
                        results.append(post(port, token, body))

                threads = [threading.Thread(target=worker, args=(max(1, n // args.parallel),)) for _ in range(args.parallel)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                codes = {}
                for code, data in results:
                    key = code
                    if code == 200:
                        try:
                            d = json.loads(data)
                            key = "200 " + ((d.get("errors") or [{}])[0].get("message", "ok")[:70])
                        except RecursionError:
                            key = "200 (deeper than Python's json reads)"
                        except Exception:
                            key = "200 (not json)"
                    codes[key] = codes.get(key, 0) + 1
                alive = post(port, token, q("{ version }"))
                if alive[0] != 200:
                    failures += 1
                s = status(proc.pid)
                print(f"round {r} {kind:20s} {len(body) / MIB:7.1f} MiB x{len(results):3d} "
                      f"{time.time() - started:6.1f}s  VmRSS {s['VmRSS'] // 1024:5d} MiB  VmHWM {s['VmHWM'] // 1024:5d} MiB  "
                      f"alive={alive[0]}  {codes}")
                sys.stdout.flush()
        time.sleep(2)
        final = status(proc.pid)
        print(f"after the burst: VmRSS {final['VmRSS'] // 1024} MiB (idle {idle['VmRSS'] // 1024} MiB), "
              f"peak VmHWM {final['VmHWM'] // 1024} MiB, threads {final['Threads']}")
        if failures or final["VmRSS"] // 1024 > args.max_final_mib:
            return 1
        return 0
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["rm", "-rf", state])


if __name__ == "__main__":
    sys.exit(main())
