#!/usr/bin/env python3
"""B1: `tanto session` start to first answered `{ version }` query (median of N)."""
import base64, json, os, statistics, subprocess, sys, time, urllib.request

def once(binary: str) -> float:
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "session"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    params = json.loads(p.stdout.readline())
    auth = base64.b64encode(f"{params['session_token']}:".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{params['port']}/query", data=b'{"query":"{ version }"}',
                                 headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    body = json.loads(urllib.request.urlopen(req).read())
    dt = time.perf_counter() - t0
    assert body["data"]["version"], body
    p.stdin.close(); p.wait(10)
    return dt

if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/tanto"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    times = [once(binary) for _ in range(n)]
    print(f"session start -> first answer: median {statistics.median(times)*1000:.1f} ms, min {min(times)*1000:.1f} ms, max {max(times)*1000:.1f} ms (n={n})")
