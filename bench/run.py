#!/usr/bin/env python3
"""tanto benchmark harness: tanto side by side with BuildKit (dockerd 20.10) and buildah.

Sets up everything it needs under one temp dir (local docker-registry with the busybox
fixture, dockerd on its own socket/data root/exec root, buildah with its own storage,
a tanto state dir), runs each scenario several times with the engines interleaved
(order rotated per repetition), tears it all down by PID, and prints a table:
median and min-max per engine, and tanto's ratio to each peer (tanto/peer; < 1 = tanto faster).

B2, B3 and B4 also run rootless (unless --no-rootless): `tanto` and `podman` started as a
normal user (--rootless-user, default `tanto-bench`, created with subordinate IDs if missing)
through `setpriv`, each with its own state under a temp dir of that user's, in the same
interleaved reps; a second table compares tanto rootless with tanto as root and with
podman rootless. (BuildKit rootless is not run: Debian 12 packages no buildkitd.)

B10 is a 10-step build on a fresh engine, cold and with a warm registry cache: tanto on an
empty state dir with `TANTO_CACHE=off`, and with `TANTO_CACHE=<registry>/tanto-cache` seeded
once by another engine (the row fails if tanto's summary line says a step executed);
BuildKit after `docker builder prune -af`, plain and with `--cache-from` an image pushed
with `BUILDKIT_INLINE_CACHE=1` (its CACHED lines are counted).

    python3 bench/run.py [--reps N] [--only B1,B2,...] [--tanto target/release/tanto]
                         [--fixtures target/release/tanto-fixtures] [--keep]
                         [--rootless-user NAME | --no-rootless]

stdlib only. Run as root (the engines need it). bench/run.sh installs packages and builds.
"""
import argparse, base64, datetime, glob, http.client, json, os, pwd, shutil, signal, socket, statistics
import re, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = "/usr/bin/docker"  # 20.10 CLI with built-in BuildKit (the /usr/local one lacks buildx)
ENGINES = ["tanto", "buildkit", "buildah"]
ROOTLESS = ["tanto-rootless", "podman-rootless"]  # B2/B3/B4 only, as --rootless-user


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, env=None, cwd=None, input=None, check=True, quiet=True):
    r = subprocess.run(cmd, env=env, cwd=cwd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {r.returncode}: "
                           f"{r.stderr.decode(errors='replace')[-2000:]}{r.stdout.decode(errors='replace')[-500:]}")
    return r


def timed(cmd, **kw):
    t0 = time.perf_counter()
    r = run(cmd, **kw)
    return time.perf_counter() - t0, r


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path_ = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.path_)
        self.sock = s


def unix_get(sock, url):
    c = UnixHTTP(sock)
    c.request("GET", url)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None


def stop_pid(pid, timeout=15):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            wpid, _ = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- engines

class Env:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="tanto-bench-")
        self.tanto = os.path.abspath(args.tanto)
        self.fixtures = os.path.abspath(args.fixtures)
        self.dockerd_pid = None
        self.registry_dir = os.path.join(self.tmp, "registry")
        self.notes = []

    # --- registry (tanto-fixtures: docker-registry on 127.0.0.1, busybox pushed)
    def start_registry(self):
        t0 = time.perf_counter()
        r = run([self.fixtures, "serve", "--dir", self.registry_dir,
                 "--engine-config", os.path.join(self.tmp, "engine.toml")])
        kv = dict(l.split("=", 1) for l in r.stdout.decode().split() if "=" in l)
        self.registry = kv["REGISTRY"]
        self.registry_pid = int(kv["REGISTRY_PID"])
        self.engine_config = kv["TANTO_CONFIG"]
        self.image = f"{self.registry}/library/busybox:1.36"
        log(f"registry {self.registry} (pid {self.registry_pid}) in {time.perf_counter()-t0:.2f}s")

    def stop_registry(self):
        if os.path.exists(self.fixtures) and os.path.isdir(self.registry_dir):
            run([self.fixtures, "stop", "--dir", self.registry_dir], check=False)

    # --- tanto
    def tanto_env(self, state=None):
        e = dict(os.environ)
        e["TANTO_STATE_DIR"] = state or os.path.join(self.tmp, "tanto-state")
        e["TANTO_RUN_DIR"] = os.path.join(self.tmp, "tanto-run")
        e["TANTO_CONFIG"] = self.engine_config
        e.setdefault("TANTO_LOG", "warn")
        return e

    def tanto_query(self, query, state=None):
        path = os.path.join(self.tmp, "q.graphql")
        with open(path, "w") as f:
            f.write(query)
        dt, r = timed([self.tanto, "query", path], env=self.tanto_env(state))
        out = json.loads(r.stdout)
        if out.get("errors"):
            raise RuntimeError(f"tanto query errors: {out['errors']}")
        return dt, out

    # --- dockerd with BuildKit, on its own socket / roots
    def start_dockerd(self, name="dockerd"):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        sock = os.path.join(d, "docker.sock")
        logf = open(os.path.join(d, "log"), "ab")
        t0 = time.perf_counter()
        p = subprocess.Popen(["dockerd", "--data-root", os.path.join(d, "data"),
                              "--exec-root", os.path.join(d, "exec"),
                              "--pidfile", os.path.join(d, "dockerd.pid"),
                              "-H", f"unix://{sock}", "--insecure-registry", self.registry],
                             stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        while True:
            if p.poll() is not None:
                raise RuntimeError(f"dockerd exited {p.returncode}; see {d}/log")
            try:
                st, body = unix_get(sock, "/version")
                if st == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("dockerd did not answer in 60s")
            time.sleep(0.005)
        return p, sock, time.perf_counter() - t0

    def start_main_dockerd(self):
        p, sock, dt = self.start_dockerd()
        self.dockerd = p
        self.docker_sock = sock
        log(f"dockerd pid {p.pid} ready in {dt:.2f}s on {sock}")
        run(self.docker(["pull", "-q", self.image]))

    def docker(self, args):
        return [DOCKER, "-H", f"unix://{self.docker_sock}"] + args

    def docker_env(self):
        e = dict(os.environ)
        e["DOCKER_BUILDKIT"] = "1"
        return e

    def docker_build(self, ctx, tag="bench:latest"):
        dt, _ = timed(self.docker(["build", "-q", "-t", tag, ctx]), env=self.docker_env())
        return dt

    def stop_dockerd(self):
        if getattr(self, "dockerd", None):
            stop_pid(self.dockerd.pid)
            self.dockerd = None

    # --- buildah with its own storage and the ulimit workaround
    def setup_buildah(self):
        d = os.path.join(self.tmp, "buildah")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
        self.buildah_conf = conf
        self.buildah_root = os.path.join(d, "root")
        self.buildah_runroot = os.path.join(d, "runroot")
        run(self.buildah(["pull", "-q", "--tls-verify=false", self.image]), env=self.buildah_env())

    def buildah(self, args):
        return ["buildah", "--root", self.buildah_root, "--runroot", self.buildah_runroot,
                "--storage-driver", "overlay"] + args

    def buildah_env(self):
        e = dict(os.environ)
        e["CONTAINERS_CONF"] = self.buildah_conf
        return e

    def buildah_build(self, ctx, tag="localhost/bench:latest"):
        dt, _ = timed(self.buildah(["bud", "-q", "--layers", "--tls-verify=false",
                                    "-t", tag, ctx]), env=self.buildah_env())
        return dt

    # --- rootless: tanto and podman as a normal user, state in a temp dir of that user's
    def setup_rootless(self, user):
        """The user (created with subordinate IDs if missing), its dir, and both engines warm."""
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            run(["useradd", "-m", "-s", "/bin/bash", user])
            self.notes.append(f"created user {user}")
            pw = pwd.getpwnam(user)
        for f, opt in (("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")):
            with open(f) as fh:
                if not any(l.split(":")[0] in (user, str(pw.pw_uid)) for l in fh if ":" in l):
                    run(["usermod", opt, "200000-265535", user])
        for tool in ("newuidmap", "newgidmap", "slirp4netns", "podman", "setpriv"):
            if not shutil.which(tool):
                raise RuntimeError(f"rootless rows need `{tool}` (bench/run.sh installs uidmap, slirp4netns, podman)")
        self.rl_user, self.rl_uid, self.rl_gid, self.rl_home = user, pw.pw_uid, pw.pw_gid, pw.pw_dir
        # processes of the user before: the ones after that were not there are ours (stopped by PID)
        self.rl_pids_before = self.user_pids()
        d = tempfile.mkdtemp(prefix=f"tanto-bench-rootless-")
        os.chown(d, pw.pw_uid, pw.pw_gid)
        self.rl_dir = d
        self.rl_xdg = os.path.join(d, "xdg-run")  # XDG_RUNTIME_DIR: tanto's run dir, podman's runroot tmp
        shutil.copy(self.engine_config, os.path.join(d, "engine.toml"))
        write(os.path.join(d, "containers.conf"),
              '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
        write(os.path.join(d, "registries.conf"),
              f'unqualified-search-registries = []\n[[registry]]\nlocation = "{self.registry}"\ninsecure = true\n')
        os.makedirs(self.rl_xdg, mode=0o700)
        self.user_chown(d)
        log(f"rootless: user {user} (uid {pw.pw_uid}), dir {d}")
        # base image local for both, as for the root engines
        self.tanto_rl_query('{ container { from(address: "%s") { sync } } }' % self.image)
        run(self.as_user(self.podman_rl(["pull", "-q", "--tls-verify=false", self.image]), self.podman_rl_env()),
            cwd=d)
        info = run(self.as_user(self.podman_rl(["info", "--format",
                                                "{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} "
                                                "{{.Host.NetworkBackend}} cgroup {{.Host.CgroupsVersion}}"]),
                                self.podman_rl_env()), cwd=d, check=False)
        self.notes.append(f"podman rootless: {info.stdout.decode().strip()}")
        doc = run(self.as_user([self.tanto, "doctor"], {"TANTO_STATE_DIR": os.path.join(d, "tanto-state")}),
                  cwd=d, check=False)
        keep = [" ".join(l.split()) for l in doc.stdout.decode(errors="replace").splitlines()
                if l.split()[1:2] and l.split()[1] in ("mode", "overlay", "network", "cgroups")]
        self.notes.append("tanto rootless (`tanto doctor`): " + "; ".join(keep))

    def user_pids(self):
        pids = set()
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.stat(f"/proc/{p}").st_uid == self.rl_uid:
                        pids.add(int(p))
                except OSError:
                    pass
        return pids

    def user_chown(self, path):
        run(["chown", "-R", f"{self.rl_uid}:{self.rl_gid}", path])

    def as_user(self, cmd, extra):
        """cmd as the rootless user: its own uid/gids, a clean environment (no root's)."""
        e = {"HOME": self.rl_home, "USER": self.rl_user, "LOGNAME": self.rl_user,
             "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "XDG_RUNTIME_DIR": self.rl_xdg}
        e.update(extra)
        return (["setpriv", f"--reuid={self.rl_uid}", f"--regid={self.rl_gid}", "--init-groups",
                 "env", "-i"] + [f"{k}={v}" for k, v in e.items()] + cmd)

    def tanto_rl_query(self, query):
        path = os.path.join(self.rl_dir, "q.graphql")
        with open(path, "w") as f:
            f.write(query)
        tenv = {"TANTO_STATE_DIR": os.path.join(self.rl_dir, "tanto-state"),
                "TANTO_CONFIG": os.path.join(self.rl_dir, "engine.toml"),
                "TANTO_LOG": os.environ.get("TANTO_LOG", "warn")}
        dt, r = timed(self.as_user([self.tanto, "query", path], tenv), cwd=self.rl_dir)
        out = json.loads(r.stdout)
        if out.get("errors"):
            raise RuntimeError(f"tanto (rootless) query errors: {out['errors']}")
        return dt, out

    def podman_rl(self, args):
        d = os.path.join(self.rl_dir, "podman")
        return ["podman", "--root", os.path.join(d, "root"), "--runroot", os.path.join(d, "runroot"),
                "--storage-driver", "overlay"] + args

    def podman_rl_env(self):
        return {"CONTAINERS_CONF": os.path.join(self.rl_dir, "containers.conf"),
                "CONTAINERS_REGISTRIES_CONF": os.path.join(self.rl_dir, "registries.conf")}

    def podman_rl_build(self, ctx, tag="localhost/bench:latest"):
        dt, _ = timed(self.as_user(self.podman_rl(["build", "-q", "--layers", "--tls-verify=false",
                                                   "-t", tag, ctx]), self.podman_rl_env()), cwd=self.rl_dir)
        return dt

    def stop_rootless(self):
        if not getattr(self, "rl_dir", None):
            return
        # podman's rootless pause process (holds its user namespace), then anything else of the
        # user's that appeared while the bench ran (started by it), by PID
        for pf in glob.glob(os.path.join(self.rl_xdg, "libpod", "tmp", "pause.pid")):
            try:
                stop_pid(int(open(pf).read().strip()), timeout=5)
            except (OSError, ValueError):
                pass
        left = sorted(self.user_pids() - self.rl_pids_before)
        if left:
            log(f"rootless: stopping leftover processes of {self.rl_user}: {left}")
            for pid in left:
                stop_pid(pid, timeout=5)
        if not self.args.keep:
            shutil.rmtree(self.rl_dir, ignore_errors=True)  # tanto's state dir and podman's storage

    def cleanup(self):
        self.stop_dockerd()
        self.stop_registry()
        self.stop_rootless()
        if not self.args.keep:
            # overlay mounts from buildah/docker may linger; unmount what is under tmp
            try:
                with open("/proc/mounts") as f:
                    mnts = [l.split()[1] for l in f if self.tmp in l.split()[1]]
                for m in sorted(mnts, key=len, reverse=True):
                    subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
            except OSError:
                pass
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- workloads

def chain_query(image, n, tag):
    q = '{ container { from(address: "%s") { ' % image
    for i in range(1, n + 1):
        q += 'withExec(args: ["sh", "-c", "echo %d-%s > /f_%d"]) { ' % (i, tag, i)
    q += "sync " + "} " * (n + 3)
    return q


def chain_dockerfile(image, n, tag):
    return f"FROM {image}\n" + "".join(f"RUN echo {i}-{tag} > /f_{i}\n" for i in range(1, n + 1))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def docker_build_query(ctx):
    return '{ host { directory(path: "%s") { dockerBuild { sync } } } }' % ctx


class Results:
    def __init__(self):
        self.rows = []  # (scenario, {engine: [seconds]}, note)
        self.extra = []  # free text lines

    def add(self, scen, data, note=""):
        self.rows.append((scen, data, note))


def fmt_s(x):
    if x is None:
        return "-"
    if x < 1:
        return f"{x*1000:.0f} ms" if x >= 0.01 else f"{x*1000:.1f} ms"
    return f"{x:.2f} s"


def stat(v):
    if not v:
        return None
    return statistics.median(v), min(v), max(v)


def render(res, reps):
    lines = ["| scenario | tanto | BuildKit (dockerd 20.10) | buildah 1.28 | tanto/BuildKit | tanto/buildah |",
             "|---|---|---|---|---|---|"]
    for scen, data, note in res.rows:
        cells = []
        meds = {}
        for e in ENGINES:
            v = data.get(e)
            if isinstance(v, str):
                cells.append(v)
                continue
            s = stat(v)
            if s is None:
                cells.append("-")
                continue
            meds[e] = s[0]
            cells.append(f"{fmt_s(s[0])} ({fmt_s(s[1])}–{fmt_s(s[2])})")
        ratios = []
        for peer in ENGINES[1:]:
            if "tanto" in meds and peer in meds and meds[peer] > 0:
                ratios.append(f"{meds['tanto']/meds[peer]:.2f}")
            else:
                ratios.append("-")
        name = scen + (f" — {note}" if note else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def render_rootless(res):
    """B2/B3/B4 rootless: tanto rootless beside tanto as root and podman rootless."""
    cols = ["tanto", "tanto-rootless", "podman-rootless"]
    lines = ["| scenario | tanto (root) | tanto rootless | podman 4.3 rootless | tanto rootless/root | "
             "tanto rootless/podman rootless |",
             "|---|---|---|---|---|---|"]
    targets = []
    for scen, data, note in res.rows:
        if not any(isinstance(data.get(e), list) and data.get(e) for e in ROOTLESS):
            continue
        cells, meds = [], {}
        for e in cols:
            st = stat(data.get(e) if isinstance(data.get(e), list) else None)
            if st is None:
                cells.append("-")
                continue
            meds[e] = st[0]
            cells.append(f"{fmt_s(st[0])} ({fmt_s(st[1])}–{fmt_s(st[2])})")
        r_root = meds["tanto-rootless"] / meds["tanto"] if "tanto-rootless" in meds and meds.get("tanto") else None
        r_pod = (meds["tanto-rootless"] / meds["podman-rootless"]
                 if "tanto-rootless" in meds and meds.get("podman-rootless") else None)
        lines.append(f"| {scen.split(' ')[0]} | " + " | ".join(cells) + " | "
                     + " | ".join("-" if r is None else f"{r:.2f}" for r in (r_root, r_pod)) + " |")
        if scen.startswith("B2 ") and r_root is not None and r_pod is not None:
            targets.append(f"B2 targets (issue 13): rootless within 1.5x of root: {r_root:.2f}x — "
                           f"{'met' if r_root <= 1.5 else 'MISSED'}; ahead of podman rootless: {r_pod:.2f}x — "
                           f"{'met' if r_pod < 1 else 'MISSED'}")
    if len(lines) == 2:
        return ""
    return ("Rootless (B2/B3/B4 as a normal user, in the same interleaved reps as the table above; "
            "BuildKit rootless not run: Debian 12 packages no buildkitd):\n\n" + "\n".join(lines)
            + "".join(f"\n\n{t}" for t in targets))


# ---------------------------------------------------------------- scenarios

def rotated(rep, engines=None):
    engines = engines or ENGINES
    k = rep % len(engines)
    return engines[k:] + engines[:k]


def bench_engines(env):
    """B2/B3/B4's engines: the root ones, and the rootless ones when they are set up."""
    return ENGINES + (ROOTLESS if getattr(env, "rl_dir", None) else [])


def b1(env, res, reps):
    """engine start to first answered query."""
    data = {e: [] for e in ENGINES}
    b1dir = os.path.join(env.tmp, "b1")
    for rep in range(reps):
        for e in rotated(rep):
            if e == "tanto":
                t0 = time.perf_counter()
                p = subprocess.Popen([env.tanto, "session"], env=env.tanto_env(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                params = json.loads(p.stdout.readline())
                auth = base64.b64encode(f"{params['session_token']}:".encode()).decode()
                req = urllib.request.Request(f"http://127.0.0.1:{params['port']}/query",
                                             data=b'{"query":"{ version }"}',
                                             headers={"Authorization": f"Basic {auth}",
                                                      "Content-Type": "application/json"})
                body = json.loads(urllib.request.urlopen(req).read())
                data[e].append(time.perf_counter() - t0)
                assert body["data"]["version"], body
                p.stdin.close(); p.wait(10)
            elif e == "buildkit":
                # a second dockerd (own roots) started and stopped per rep: start -> GET /version answered
                p, sock, dt = env.start_dockerd("dockerd-b1")
                data[e].append(dt)
                stop_pid(p.pid)
            else:
                # no daemon: the CLI opening its storage and answering
                dt, _ = timed(env.buildah(["images", "-q"]), env=env.buildah_env())
                data[e].append(dt)
    res.add("B1 engine start → first answered query", data,
            "tanto: `tanto session`→`{version}`; BuildKit: dockerd start→`GET /version`; buildah: `buildah images`")


def b2_b3(env, res, reps, n=20):
    engines = bench_engines(env)
    d2 = {e: [] for e in engines}
    d3 = {e: [] for e in engines}
    run_id = f"{os.getpid()}{int(time.time())}"
    for rep in range(reps):
        tag = f"{run_id}r{rep}"
        ctx = os.path.join(env.tmp, f"b2ctx-{rep}")
        write(os.path.join(ctx, "Dockerfile"), chain_dockerfile(env.image, n, tag))
        if "podman-rootless" in engines:  # the same Dockerfile, where the user can read it
            rl_ctx = os.path.join(env.rl_dir, f"b2ctx-{rep}")
            write(os.path.join(rl_ctx, "Dockerfile"), chain_dockerfile(env.image, n, tag))
            env.user_chown(rl_ctx)
        q = chain_query(env.image, n, tag)
        for phase, data in (("cold", d2), ("cached", d3)):
            for e in rotated(rep, engines):
                if e == "tanto":
                    dt, _ = env.tanto_query(q)
                elif e == "tanto-rootless":
                    dt, _ = env.tanto_rl_query(q)
                elif e == "podman-rootless":
                    dt = env.podman_rl_build(rl_ctx, f"localhost/bench-b2:{rep}")
                elif e == "buildkit":
                    dt = env.docker_build(ctx, f"bench-b2:{rep}")
                else:
                    dt = env.buildah_build(ctx, f"localhost/bench-b2:{rep}")
                data[e].append(dt)
            log(f"  B2/B3 rep {rep} {phase}: " + ", ".join(f"{e}={fmt_s(data[e][-1])}" for e in engines))
    res.add(f"B2 {n} trivial steps, cold cache (base local)", d2)
    res.add(f"B3 the same {n} steps again, fully cached", d3)


B4_DOCKERFILE = """FROM {image}
COPY src /src
RUN cat /src/*.txt | wc -c > /s1
RUN cat /s1 /src/f0000.txt > /s2
RUN md5sum /src/*.txt > /s3
RUN cat /s2 /s3 | wc -l > /s4
RUN sort /s3 > /s5
RUN cat /s4 /s5 | md5sum > /s6
RUN cp /s6 /s7 && echo 7 >> /s7
RUN ls -la /src | wc -l > /s8
RUN cat /s7 /s8 > /s9
"""


def b4(env, res, reps, files=500):
    engines = bench_engines(env)
    data = {e: [] for e in engines}
    ctxs = {}
    for e in engines:
        # the rootless engines' contexts are the user's (it reads them, as its own builds would)
        ctx = os.path.join(env.rl_dir if e in ROOTLESS else env.tmp, f"b4-{e}")
        write(os.path.join(ctx, "Dockerfile"), B4_DOCKERFILE.format(image=env.image))
        for i in range(files):
            write(os.path.join(ctx, "src", f"f{i:04d}.txt"), f"file {i}\n" * 20)
        if e in ROOTLESS:
            env.user_chown(ctx)
        ctxs[e] = ctx

    def build(e):
        if e == "tanto":
            return env.tanto_query(docker_build_query(ctxs[e]))[0]
        if e == "tanto-rootless":
            return env.tanto_rl_query(docker_build_query(ctxs[e]))[0]
        if e == "podman-rootless":
            return env.podman_rl_build(ctxs[e], "localhost/bench-b4:latest")
        if e == "buildkit":
            return env.docker_build(ctxs[e], "bench-b4:latest")
        return env.buildah_build(ctxs[e], "localhost/bench-b4:latest")

    for e in engines:  # warm: first build of the tree, untimed
        build(e)
    for rep in range(reps):
        for e in rotated(rep, engines):
            write(os.path.join(ctxs[e], "src", "f0000.txt"), f"changed {rep} {time.time()}\n")
            data[e].append(build(e))
        log(f"  B4 rep {rep}: " + ", ".join(f"{e}={fmt_s(data[e][-1])}" for e in engines))
    res.add(f"B4 10-step build, 1 of {files} source files changed (same Dockerfile; tanto via `dockerBuild`)", data)


def b5(env, res, reps, files=100_000):
    """upload of a host dir of 100k small files (COPY tree /ctx), then again after one file changed."""
    d_cold = {e: [] for e in ENGINES}
    d_one = {e: [] for e in ENGINES}
    base = f"/var/cache/tanto-bench/b5-tree-{files}"  # generated once per machine
    if not os.path.exists(base + ".done"):
        t0 = time.perf_counter()
        for i in range(files):
            if i % 1000 == 0:
                os.makedirs(os.path.join(base, f"d{i//1000:03d}"), exist_ok=True)
            with open(os.path.join(base, f"d{i//1000:03d}", f"f{i}.txt"), "w") as f:
                f.write(f"{i}\n")
        open(base + ".done", "w").close()
        log(f"  B5: wrote {files} files in {time.perf_counter()-t0:.1f}s")
    ctxs = {}
    for e in ENGINES:
        ctx = os.path.join(env.tmp, f"b5-{e}")
        os.makedirs(ctx)
        run(["cp", "-a", base, os.path.join(ctx, "tree")])  # a real copy: own inodes, new path for everyone
        write(os.path.join(ctx, "Dockerfile"), f"FROM {env.image}\nCOPY tree /ctx\n")
        write(os.path.join(ctx, "tree", "unique.txt"), f"{e} {time.time()}\n")
        ctxs[e] = ctx

    def build(e, rep):
        if e == "tanto":
            return env.tanto_query(docker_build_query(ctxs[e]))[0]
        if e == "buildkit":
            return env.docker_build(ctxs[e], "bench-b5:latest")
        return env.buildah_build(ctxs[e], "localhost/bench-b5:latest")

    for e in ENGINES:  # cold: once per engine (a new tree each would cost minutes per rep)
        d_cold[e].append(build(e, 0))
    log("  B5 cold: " + ", ".join(f"{e}={fmt_s(d_cold[e][-1])}" for e in ENGINES))
    for rep in range(max(1, min(reps, 2))):  # each rep costs minutes on 2 cores
        for e in rotated(rep):
            write(os.path.join(ctxs[e], "tree", "d000", "f0.txt"), f"changed {rep} {time.time()}\n")
            d_one[e].append(build(e, rep))
        log(f"  B5 rep {rep} one changed: " + ", ".join(f"{e}={fmt_s(d_one[e][-1])}" for e in ENGINES))
    res.add(f"B5 `COPY` of a host dir of {files//1000}k small files, first time (n=1)", d_cold)
    res.add(f"B5 the same after one file changed", d_one)


def b7_b8(env, res, clients=50, steps=10):
    """50 concurrent clients, same pipeline, one `tanto session`; memory idle and during."""
    p = subprocess.Popen([env.tanto, "session"], env=env.tanto_env(), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    params = json.loads(p.stdout.readline())
    auth = base64.b64encode(f"{params['session_token']}:".encode()).decode()
    url = f"http://127.0.0.1:{params['port']}/query"

    def post(q):
        req = urllib.request.Request(url, data=json.dumps({"query": q}).encode(),
                                     headers={"Authorization": f"Basic {auth}",
                                              "Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=600).read())

    post("{ version }")
    time.sleep(1.0)
    idle = rss_kb(p.pid)
    tag = f"{os.getpid()}{int(time.time())}"
    q = '{ container { from(address: "%s") { ' % env.image
    for i in range(steps):
        q += 'withExec(args: ["sh", "-c", "cat /proc/sys/kernel/random/uuid >> /u; echo %d-%s >> /log"]) { ' % (i, tag)
    q += 'file(path: "/u") { contents } ' + "} " * (steps + 3)
    outs, errs = [None] * clients, []
    peak = [idle or 0]
    done = threading.Event()

    def sampler():
        while not done.is_set():
            v = rss_kb(p.pid)
            if v:
                peak[0] = max(peak[0], v)
            time.sleep(0.01)

    def client(i):
        try:
            outs[i] = post(q)
        except Exception as ex:  # noqa
            errs.append(repr(ex))

    st = threading.Thread(target=sampler); st.start()
    ths = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in ths: t.start()
    for t in ths: t.join()
    wall = time.perf_counter() - t0
    done.set(); st.join()
    hwm = rss_kb(p.pid, "VmHWM")
    # one client alone, the same pipeline shape cold (new tag), for comparison
    q1 = q.replace(tag, tag + "solo")
    t1 = time.perf_counter(); post(q1); solo = time.perf_counter() - t1
    p.stdin.close(); p.wait(30)
    contents = set()
    for o in outs:
        if o and not o.get("errors"):
            c = o["data"]["container"]["from"]
            for _ in range(steps):
                c = c["withExec"]
            contents.add(c["file"]["contents"])
    ok = sum(1 for o in outs if o and not o.get("errors"))
    errors = [o["errors"] for o in outs if o and o.get("errors")][:2] + errs[:2]
    once = len(contents) == 1 and ok == clients
    lines_out = contents.pop().count("\n") if len(contents) == 1 else None
    res.add(f"B7 {clients} concurrent clients, same cold {steps}-step pipeline, one session (wall)",
            {"tanto": [wall], "buildkit": "not run", "buildah": "not run"},
            f"{ok}/{clients} ok, work ran once: {'yes' if once else 'NO'} "
            f"({lines_out} uuid lines in every answer); one client alone: {fmt_s(solo)}")
    res.extra.append(f"B7: wall {fmt_s(wall)} for {clients} clients; {ok} answers ok; "
                     f"distinct /u contents across answers = {len(contents) + (1 if once else 0)}; errors: {errors}")
    res.extra.append(f"B8: tanto session RSS idle {idle/1024:.1f} MiB; peak during B7 "
                     f"{peak[0]/1024:.1f} MiB (sampled), VmHWM {hwm/1024 if hwm else 0:.1f} MiB")
    # peers' idle daemon memory for context
    try:
        dpid = env.dockerd.pid
        d_rss = rss_kb(dpid) or 0
        c_rss = 0
        out = run(["ps", "-o", "pid=", "--ppid", str(dpid)], check=False).stdout.decode().split()
        for c in out:
            c_rss += rss_kb(int(c)) or 0
        res.extra.append(f"B8 (context): idle dockerd RSS {d_rss/1024:.1f} MiB + its containerd {c_rss/1024:.1f} MiB "
                         f"(after the builds above); buildah has no daemon")
    except Exception as ex:  # noqa
        res.extra.append(f"B8 (context): dockerd RSS unavailable: {ex}")
    # B7b: 50 separate engine processes (each SDK client spawns its own `tanto session`) on one state dir
    try:
        tag2 = tag + "procs"
        qp = q.replace(tag, tag2)
        qpath = os.path.join(env.tmp, "b7b.graphql")
        with open(qpath, "w") as f:
            f.write(qp)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([env.tanto, "query", qpath], env=env.tanto_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(clients)]
        outs2 = [pr.communicate() for pr in procs]
        wall2 = time.perf_counter() - t0
        conts, bad = set(), []
        for pr, (o, e) in zip(procs, outs2):
            try:
                c = json.loads(o)["data"]["container"]["from"]
                for _ in range(steps):
                    c = c["withExec"]
                conts.add(c["file"]["contents"])
            except Exception:  # noqa
                bad.append((pr.returncode, e.decode(errors="replace")[-200:]))
        res.add(f"B7b {clients} concurrent `tanto query` processes (one engine each, shared state dir), same cold pipeline (wall)",
                {"tanto": [wall2], "buildkit": "not run", "buildah": "not run"},
                f"{clients-len(bad)}/{clients} ok, distinct results {len(conts)} (1 = work ran once)")
        if bad:
            res.extra.append(f"B7b failures: {len(bad)}, first: {bad[0]}")
    except Exception as ex:  # noqa
        res.extra.append(f"B7b failed: {ex}")
    return idle, peak[0]


def floor(env, res, reps):
    """`crun run` / `runc run` of `true` over a fresh overlay (mount + run + umount + rm)."""
    d = os.path.join(env.tmp, "floor")
    lower = os.path.join(d, "lower")
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc"]:
        os.makedirs(os.path.join(lower, sub), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(lower, "bin", "busybox"))
    os.symlink("busybox", os.path.join(lower, "bin", "true"))
    os.symlink("busybox", os.path.join(lower, "bin", "sh"))
    # crun in hybrid cgroup mode needs the v1 hugetlb hierarchy (environment.md §4)
    try:
        with open("/sys/fs/cgroup/unified/cgroup.controllers") as f:
            if f.read().strip():
                os.makedirs("/sys/fs/cgroup/hugetlb", exist_ok=True)
                run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", "/sys/fs/cgroup/hugetlb"], check=False)
    except OSError:
        pass
    data = {}
    for rt in ["crun", "runc"]:
        if not shutil.which(rt):
            continue
        data[rt] = []
    for rep in range(max(reps, 10)):
        for rt in list(data):
            b = os.path.join(d, f"{rt}-{rep}")
            os.makedirs(b)
            run([rt, "spec"], cwd=b)
            spec = json.load(open(os.path.join(b, "config.json")))
            spec["process"]["terminal"] = False
            spec["process"]["args"] = ["/bin/true"]
            spec["root"] = {"path": "rootfs", "readonly": False}
            json.dump(spec, open(os.path.join(b, "config.json"), "w"))
            t0 = time.perf_counter()
            for s in ["upper", "work", "rootfs"]:
                os.makedirs(os.path.join(b, s))
            run(["mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir={lower},upperdir={b}/upper,workdir={b}/work", f"{b}/rootfs"])
            run([rt, "run", f"bench-{rt}-{os.getpid()}-{rep}"], cwd=b)
            run(["umount", f"{b}/rootfs"])
            shutil.rmtree(b)
            data[rt].append(time.perf_counter() - t0)
    for rt, v in data.items():
        s = stat(v)
        res.extra.append(f"floor: fresh overlay + `{rt} run` of `true` + umount + rm: median {fmt_s(s[0])} "
                         f"({fmt_s(s[1])}–{fmt_s(s[2])}, n={len(v)})")


def b6(env, res, reps):
    """pull of the Debian+python fixture image from the local registry."""
    # built by the testkit (mmdebstrap minbase + python3, cached per month in /var/cache/tanto),
    # the same code path as the slow-tier pipeline test's debian-python-pip image
    t0 = time.perf_counter()
    r = run([env.fixtures, "debian-image", "--registry", env.registry, "--name", "debian-python"])
    image = dict(l.split("=", 1) for l in r.stdout.decode().split() if "=" in l)["IMAGE"]
    log(f"  B6: {image} built or loaded and pushed in {time.perf_counter()-t0:.1f}s")
    data = {e: [] for e in ENGINES}
    floor_v = []
    reps = max(1, min(reps, 2))
    for rep in range(reps):
        for e in rotated(rep):
            if e == "tanto":
                state = os.path.join(env.tmp, f"b6-state-{rep}")  # cold cache per rep
                dt, _ = env.tanto_query('{ container { from(address: "%s") { sync } } }' % image, state=state)
                shutil.rmtree(state, ignore_errors=True)
            elif e == "buildkit":
                run(env.docker(["rmi", "-f", image]), check=False)
                dt, _ = timed(env.docker(["pull", "-q", image]))
            else:
                run(env.buildah(["rmi", "-f", image]), env=env.buildah_env(), check=False)
                dt, _ = timed(env.buildah(["pull", "-q", "--tls-verify=false", image]), env=env.buildah_env())
            data[e].append(dt)
        # floor: skopeo copy to a local OCI layout + unpack the layer with tar
        fl = os.path.join(env.tmp, f"b6-floor-{rep}")
        os.makedirs(fl)
        t0 = time.perf_counter()
        run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{image}", f"oci:{fl}/oci:latest"])
        idx = json.load(open(f"{fl}/oci/index.json"))
        mdig = idx["manifests"][0]["digest"].split(":")[1]
        man = json.load(open(f"{fl}/oci/blobs/sha256/{mdig}"))
        os.makedirs(f"{fl}/rootfs")
        for l in man["layers"]:
            run(["tar", "-xzf", f"{fl}/oci/blobs/sha256/{l['digest'].split(':')[1]}", "-C", f"{fl}/rootfs"])
        floor_v.append(time.perf_counter() - t0)
        shutil.rmtree(fl, ignore_errors=True)
        log(f"  B6 rep {rep}: " + ", ".join(f"{e}={fmt_s(data[e][-1])}" for e in ENGINES) + f", floor={fmt_s(floor_v[-1])}")
    res.add("B6 pull of debian+python (≈77 MB gzip, 224 MB unpacked) from the local registry", data,
            f"floor skopeo copy + tar xzf: {fmt_s(statistics.median(floor_v))}")


# tanto's summary line on stderr (plain progress): `# 10 steps: 10 cached, 0 executed in 0.1s`
SUMMARY_RE = re.compile(r"^# (\d+) steps?: (\d+) cached, (\d+) executed(?:, (\d+) failed)? in \S+.*$", re.M)


def tanto_summary(stderr):
    m = list(SUMMARY_RE.finditer(stderr))
    if not m:
        return None
    g = m[-1]
    return {"steps": int(g[1]), "cached": int(g[2]), "executed": int(g[3]), "failed": int(g[4] or 0),
            "line": g[0][2:].strip()}


def buildkit_cached(output):
    """(RUN steps BuildKit said CACHED, RUN steps) in `docker build --progress=plain` output."""
    runs = set(re.findall(r"^#(\d+) \[[^\]]*\] RUN ", output, re.M))
    cached = set(re.findall(r"^#(\d+) CACHED\s*$", output, re.M))
    return len(runs & cached), len(runs)


class Served:
    """`tanto engine serve` on this machine (its own state dir), stopped by `stop`."""

    def __init__(self, env, name, args):
        self.state = os.path.join(env.tmp, f"{name}-state")
        e = env.tanto_env(self.state)
        e["TANTO_RUN_DIR"] = os.path.join(env.tmp, f"{name}-run")
        self.p = subprocess.Popen([env.tanto, "engine", "serve"] + args, env=e, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=open(os.path.join(env.tmp, f"{name}.log"), "ab"))
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"tanto engine serve did not start; see {env.tmp}/{name}.log")
        self.listen = json.loads(line)["listen"]

    def stop(self):
        stop_pid(self.p.pid)


def b11(env, res, reps, files=100_000):
    """B11: a host directory of 100k files uploaded to a remote engine on loopback (TLS), first and
    after one file changed; B3w: B3's 20 cached steps answered by a warm local engine on its unix socket."""
    d = os.path.join(env.tmp, "b11")
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509"] + ec + ["-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "2",
                                            "-subj", "/CN=bench CA"])
    run(["openssl", "req"] + ec + ["-keyout", f"{d}/key.pem", "-out", f"{d}/cert.csr", "-subj", "/CN=127.0.0.1"])
    write(f"{d}/ext", "subjectAltName=IP:127.0.0.1\n")
    run(["openssl", "x509", "-req", "-in", f"{d}/cert.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
         "-CAcreateserial", "-out", f"{d}/cert.pem", "-days", "2", "-extfile", f"{d}/ext"])
    write(f"{d}/token", "bench-token\n")
    sock = os.path.join(d, "engine.sock")
    srv = Served(env, "b11-engine", ["--listen", "tcp://127.0.0.1:0", "--listen", f"unix://{sock}",
                                     "--tls-cert", f"{d}/cert.pem", "--tls-key", f"{d}/key.pem",
                                     "--token-file", f"{d}/token"])
    try:
        tcp = next(a for a in srv.listen if a.startswith("tcp://"))
        src = os.path.join(d, "src")
        for i in range(files):
            sub = os.path.join(src, f"d{i // 1000:03d}")
            if i % 1000 == 0:
                os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, f"f{i:06d}.txt"), "w") as f:
                f.write(f"file {i}\n")
        qpath = os.path.join(d, "q.graphql")
        write(qpath, '{ host { directory(path: "%s") { id } } }' % src)

        def remote_env(host, state):
            e = env.tanto_env(os.path.join(d, state))
            e.update({"TANTO_HOST": host, "TANTO_TLS_CA": f"{d}/ca.pem", "TANTO_TOKEN": "bench-token"})
            return e

        def client(host, path, state):
            dt, r = timed([env.tanto, "query", path], env=remote_env(host, state))
            out = json.loads(r.stdout)
            if out.get("errors"):
                raise RuntimeError(f"B11: {out['errors']}")
            return dt, out

        def first_and_changed(e, mark, first, changed):
            """the upload with environment `e`, then again after one file changed"""
            dt, _ = timed([env.tanto, "query", qpath], env=e)
            first.append(dt)
            with open(os.path.join(src, "d000", "f000000.txt"), "a") as f:
                f.write(mark + "\n")
            dt, _ = timed([env.tanto, "query", qpath], env=e)
            changed.append(dt)

        first, changed, local_first, local_changed = [], [], [], []
        for rep in range(reps):
            # a new client (its own mirror on the engine) each rep: the first upload is whole
            e = remote_env(tcp, f"client-{rep}")
            e["XDG_CACHE_HOME"] = os.path.join(d, f"cache-{rep}")
            first_and_changed(e, f"change {rep}", first, changed)
            # the same on an engine in the client's process, for reference
            le = env.tanto_env(os.path.join(d, f"local-{rep}"))
            first_and_changed(le, f"local {rep}", local_first, local_changed)
            log(f"  B11 rep {rep}: remote first {fmt_s(first[-1])}, after one change {fmt_s(changed[-1])}; "
                f"in-process first {fmt_s(local_first[-1])}, after one change {fmt_s(local_changed[-1])}")
        res.add(f"B11 upload {files // 1000}k host files to a remote engine (TLS, loopback), first",
                {"tanto": first, "buildkit": "not run", "buildah": "not run"})
        res.add(f"B11 the same after one file changed (target ≤ 0.5 s)",
                {"tanto": changed, "buildkit": "not run", "buildah": "not run"})
        res.extra.append(f"B11 reference, the same upload by an engine in the client's process (`tanto query`, no "
                         f"TANTO_HOST): first {fmt_s(statistics.median(local_first))}, after one change "
                         f"{fmt_s(statistics.median(local_changed))} (medians)")

        # B3w: a warm engine on a local unix socket answers B3's cached 20 steps
        tag = f"b3w{os.getpid()}"
        q = os.path.join(d, "b3w.graphql")
        write(q, chain_query(env.image, 20, tag))
        ctx = os.path.join(d, "b3wctx")
        write(os.path.join(ctx, "Dockerfile"), chain_dockerfile(env.image, 20, tag))
        client(f"unix://{sock}", q, "b3w")  # the cold run, untimed
        env.docker_build(ctx, "bench-b3w:1")
        warm, bk = [], []
        for rep in range(max(reps, 5)):
            dt, _ = client(f"unix://{sock}", q, "b3w")
            warm.append(dt)
            bk.append(env.docker_build(ctx, "bench-b3w:1"))
        res.add("B3w B3's 20 cached steps from a warm engine (`tanto engine serve` on its unix socket)",
                {"tanto": warm, "buildkit": bk, "buildah": "not run"},
                "tanto: `TANTO_HOST=unix://… tanto query` (a thin client); BuildKit: the cached `docker build`")
    finally:
        srv.stop()


def b10(env, res, reps, n=10):
    """a 10-step build on a fresh engine: cold, and with a warm registry cache (tanto: the shared
    cache, `TANTO_CACHE`; BuildKit: `--cache-from` an image pushed with its inline cache)."""
    repo = f"{env.registry}/tanto-cache"
    tag = f"b10-{os.getpid()}{int(time.time())}"  # this run's build: in no cache before
    qpath = os.path.join(env.tmp, "b10.graphql")
    write(qpath, chain_query(env.image, n, tag))
    # untimed, after a warm run on its state dir with the shared cache off: the first and last
    # steps' files are there (the registry's results were pulled, not just looked up)
    vpath = os.path.join(env.tmp, "b10-verify.graphql")
    write(vpath, chain_query(env.image, n, tag).replace(
        "sync ", 'first: file(path: "/f_1") { contents } last: file(path: "/f_%d") { contents } ' % n))
    ctx = os.path.join(env.tmp, "b10ctx")
    write(os.path.join(ctx, "Dockerfile"), chain_dockerfile(env.image, n, tag))
    bk_image = f"{env.registry}/bench-b10:{tag}"  # the seed build, pushed with its inline cache
    bk_local = ["bench-b10:cold", "bench-b10:import"]

    def tanto_run(state, cache, path):
        e = env.tanto_env(state)
        e["TANTO_CACHE"] = cache
        e["TANTO_PROGRESS"] = "plain"
        dt, r = timed([env.tanto, "query", path], env=e)
        err = r.stderr.decode(errors="replace")
        out = json.loads(r.stdout)
        if out.get("errors"):
            raise RuntimeError(f"tanto query errors: {out['errors']}")
        s = tanto_summary(err)
        if s is None:
            raise RuntimeError(f"B10: no summary line on tanto's stderr (TANTO_CACHE={cache}): {err[-1500:]}")
        return dt, s, err, out

    def tanto(name, cache, verify=False):
        """`tanto query` on a new, empty state dir; (seconds, summary, stderr)."""
        state = os.path.join(env.tmp, f"b10-state-{name}")
        shutil.rmtree(state, ignore_errors=True)
        dt, s, err, _ = tanto_run(state, cache, qpath)
        if verify:
            _, vs, _, out = tanto_run(state, "off", vpath)
            c = out["data"]["container"]["from"]
            for _ in range(n):
                c = c["withExec"]
            got = (c["first"]["contents"], c["last"]["contents"])
            if got != (f"1-{tag}\n", f"{n}-{tag}\n") or vs["executed"]:
                raise RuntimeError(f"B10: after the warm run, its state dir (shared cache off) had {got!r}, "
                                   f"{vs['line']}: the registry's results were not all pulled")
        shutil.rmtree(state, ignore_errors=True)
        return dt, s, err

    def bk_fresh():
        run(env.docker(["builder", "prune", "-af"]))
        for t in [bk_image] + bk_local:
            run(env.docker(["rmi", "-f", t]), check=False)

    def bk_build(extra, tag_):
        dt, r = timed(env.docker(["build", "--progress=plain"] + extra + ["-t", tag_, ctx]), env=env.docker_env())
        return dt, buildkit_cached(r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace"))

    # seed: another engine with its own state dir fills the registry (its pushes awaited at exit)
    dt, s, _ = tanto("seed", repo)
    entries = "?"
    try:
        with urllib.request.urlopen(f"http://{env.registry}/v2/tanto-cache/tags/list", timeout=10) as r:
            entries = len(json.loads(r.read()).get("tags") or [])
    except Exception as ex:  # noqa: only a diagnostic
        entries = f"? ({ex})"
    log(f"  B10 seed: tanto {fmt_s(dt)} ({s['line']}); registry tanto-cache tags: {entries}")
    res.extra.append(f"B10 seed (untimed): tanto on its own state dir, `TANTO_CACHE={repo}`: {s['line']}; "
                     f"tags in the registry's tanto-cache after it exited: {entries}")
    if s["executed"] < n:
        raise RuntimeError(f"B10: the seed engine executed only {s['executed']} steps ({s['line']}): the "
                           f"build was cached before, so the cold and warm runs would not be what they say")
    bk_fresh()
    run(env.docker(["build", "-q", "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", bk_image, ctx]),
        env=env.docker_env())
    run(env.docker(["push", bk_image]))
    log(f"  B10 seed: BuildKit built {bk_image} with BUILDKIT_INLINE_CACHE=1 and pushed it")

    d_cold = {"tanto": [], "buildkit": [], "buildah": "not run"}
    d_warm = {"tanto": [], "buildkit": [], "buildah": "not run"}
    summaries = {"cold": set(), "warm": set()}
    bk_hits = {"cold": [], "import": []}
    problems = []
    variants = ["tanto-cold", "tanto-warm", "bk-cold", "bk-import"]
    for rep in range(reps):
        for v in rotated(rep, variants):
            if v == "tanto-cold":
                dt, s, _ = tanto(f"cold-{rep}", "off")
                summaries["cold"].add(s["line"].split(" in ")[0])
                if s["cached"] or s["executed"] < n:
                    problems.append(f"rep {rep}: the cold run was not cold: {s['line']}")
                d_cold["tanto"].append(dt)
            elif v == "tanto-warm":
                dt, s, err = tanto(f"warm-{rep}", repo, verify=True)
                summaries["warm"].add(s["line"].split(" in ")[0])
                if s["executed"] or s["failed"]:
                    res.extra.append(
                        f"B10 FAILED: the warm-registry run executed steps: `{s['line']}`; command: "
                        f"`TANTO_CACHE={repo} TANTO_STATE_DIR=<empty dir> TANTO_PROGRESS=plain tanto query "
                        f"b10.graphql` ({n}-step chain); stderr: {' | '.join(err.strip().splitlines()[-40:])}")
                    raise RuntimeError(f"B10: the warm-registry run executed steps (rep {rep}): {s['line']}")
                d_warm["tanto"].append(dt)
            elif v == "bk-cold":
                bk_fresh()
                dt, (hit, total) = bk_build([], bk_local[0])
                bk_hits["cold"].append((hit, total))
                if hit:
                    problems.append(f"rep {rep}: BuildKit's cold build had {hit}/{total} RUN steps CACHED")
                d_cold["buildkit"].append(dt)
            else:
                bk_fresh()
                dt, (hit, total) = bk_build(["--cache-from", bk_image], bk_local[1])
                bk_hits["import"].append((hit, total))
                if hit < n or total < n:
                    problems.append(f"rep {rep}: BuildKit's cache import hit only {hit}/{total} RUN steps (CACHED)")
                d_warm["buildkit"].append(dt)
        log(f"  B10 rep {rep}: tanto cold={fmt_s(d_cold['tanto'][-1])} warm={fmt_s(d_warm['tanto'][-1])}, "
            f"BuildKit cold={fmt_s(d_cold['buildkit'][-1])} import={fmt_s(d_warm['buildkit'][-1])} "
            f"(CACHED {bk_hits['import'][-1][0]}/{bk_hits['import'][-1][1]})")
    bk_bits = ", ".join(sorted({f"{h}/{t}" for h, t in bk_hits["import"]}))
    res.add(f"B10a {n}-step build (B2's chain: {n} `withExec`/`RUN` writing a file) on a fresh engine, cold",
            d_cold, "tanto: empty state dir, `TANTO_CACHE=off`; BuildKit: `docker builder prune -af` and the "
                    "built images removed (same dockerd, base image kept in its store); tanto's empty state dir has "
                    f"no base image: fetched from the local registry inside each timed run; tanto said `{'`, `'.join(sorted(summaries['cold']))}`")
    res.add(f"B10b the same build on a fresh engine with a warm registry cache", d_warm,
            f"tanto: empty state dir, `TANTO_CACHE=<registry>/tanto-cache` seeded once by another engine; said "
            f"`{'`, `'.join(sorted(summaries['warm']))}` in every rep (the steps under the last one are pulled as its "
            f"parents, not counted; after it, untimed, the same state dir with the "
            f"cache off read `/f_1` and `/f_{n}`: pulled, not just found); BuildKit: same fresh state, "
            f"`--cache-from` an image pushed with `BUILDKIT_INLINE_CACHE=1` (inline cache: no `docker buildx` "
            f"here, so no `type=registry` cache), CACHED RUN steps {bk_bits}")
    meds = {k: statistics.median(v) for k, v in (("tc", d_cold["tanto"]), ("tw", d_warm["tanto"]),
                                                  ("bc", d_cold["buildkit"]), ("bw", d_warm["buildkit"]))}
    res.extra.append(f"B10 ratios on the medians: tanto warm registry / BuildKit cache import "
                     f"{meds['tw']/meds['bw']:.2f}; tanto warm/cold {meds['tw']/meds['tc']:.2f}; "
                     f"BuildKit import/cold {meds['bw']/meds['bc']:.2f}")
    for p in problems:
        res.extra.append(f"B10 check: {p}")


def modules(env, res, reps):
    """`tanto call` of a Python module: first ever, warm, after a one-line change."""
    pyimage = os.path.join(ROOT, "../shared/conformance/modules/pyimage.sh")
    run(["bash", pyimage, env.registry, "library/python:3.14-slim"])
    state = os.path.join(env.tmp, "mod-state")
    tenv = env.tanto_env(state)
    mod = os.path.join(env.tmp, "hello")
    # the template's functions pull alpine:latest: busybox stands in for it
    publish = ('{ container { from(address: "busybox") { publish(address: "%s/library/alpine:latest") } } }'
               % env.registry)
    run([env.tanto, "query"], input=publish.encode(), env=tenv)
    t0 = time.perf_counter()
    run([env.tanto, "init", "--sdk=python", "--name=hello", mod], env=tenv)
    t_init = time.perf_counter() - t0
    main_py = os.path.join(mod, "src/hello/main.py")
    # a function returning a plain value beside the template's (which return objects)
    with open(main_py, "a") as f:
        f.write('\n    @function\n    def greet(self, name: str) -> str:\n        """Greets NAME."""\n'
                '        return f"hello, {name}"\n')
    echo = [env.tanto, "call", "container-echo", "--string-arg=hello", "stdout"]
    greet = [env.tanto, "call", "greet", "--name=bench"]
    dt, r = timed(echo, env=tenv, cwd=mod)
    assert r.stdout.decode().strip() == "hello", r.stdout
    res.add("M1 `tanto call container-echo … stdout`, first ever (after `tanto init`: runtime build, uv install, SDK registration; n=1)",
            {"tanto": [dt]}, f"`tanto init` itself {fmt_s(t_init)}")
    warm_echo, warm_greet, changed = [], [], []
    timed(greet, env=tenv, cwd=mod)
    for rep in range(reps):
        warm_echo.append(timed(echo, env=tenv, cwd=mod)[0])
        warm_greet.append(timed(greet, env=tenv, cwd=mod)[0])
        with open(main_py, "a") as f:
            f.write(f"\n# change {rep}\n")
        changed.append(timed(greet, env=tenv, cwd=mod)[0])
        timed(echo, env=tenv, cwd=mod)  # the new source's first echo: warms the next rep's
        log(f"  M rep {rep}: echo={fmt_s(warm_echo[-1])} greet={fmt_s(warm_greet[-1])} changed={fmt_s(changed[-1])}")
    res.add("M2 the same call again, nothing changed (warm; returns a Container, kept in the state dir)", {"tanto": warm_echo})
    res.add("M3 a function returning a string, nothing changed (warm: its result kept in the state dir)", {"tanto": warm_greet})
    res.add("M4 that call after a one-line change to main.py", {"tanto": changed})


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="B1,B2,B4,B5,B6,B7,FLOOR,B10,B11")
    ap.add_argument("--tanto", default=os.path.join(ROOT, "target/release/tanto"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "target/release/tanto-fixtures"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("--rootless-user", default="tanto-bench",
                    help="B2/B3/B4 also run tanto and podman rootless as this user (created if missing)")
    ap.add_argument("--no-rootless", action="store_true", help="skip the rootless rows")
    args = ap.parse_args()
    only = set(args.only.upper().split(","))
    env = Env(args)
    res = Results()
    started = time.time()
    try:
        env.start_registry()
        env.start_main_dockerd()
        env.setup_buildah()
        # warm tanto's base image (base image local for everyone)
        env.tanto_query('{ container { from(address: "%s") { sync } } }' % env.image)
        if not args.no_rootless and only & {"B2", "B4"}:
            try:
                env.setup_rootless(args.rootless_user)
            except Exception as ex:  # the root rows still run
                log(f"rootless setup FAILED: {ex}")
                res.extra.append(f"rootless rows not run: setup failed: {str(ex)[:500]}")
                env.stop_rootless()
                env.rl_dir = None
            bk = shutil.which("buildkitd") or shutil.which("rootlesskit-buildkitd")
            res.extra.append("BuildKit rootless: not run — " + (
                f"`{bk}` exists but this harness has no rootless BuildKit row" if bk else
                "Debian 12 has no buildkit package (no buildkitd binary; docker.io 20.10 embeds BuildKit in "
                "dockerd only), so `rootlesskit buildkitd` cannot be run from Debian packages"))
            res.extra.extend(env.notes)
        steps = [("B1", lambda: b1(env, res, args.reps)),
                 ("B2", lambda: b2_b3(env, res, args.reps)),
                 ("B4", lambda: b4(env, res, args.reps)),
                 ("B7", lambda: b7_b8(env, res)),
                 ("FLOOR", lambda: floor(env, res, args.reps)),
                 ("B5", lambda: b5(env, res, args.reps)),
                 ("B6", lambda: b6(env, res, args.reps)),
                 ("B10", lambda: b10(env, res, args.reps)),
                 ("B11", lambda: b11(env, res, args.reps)),
                 ("M", lambda: modules(env, res, args.reps))]
        for name, fn in steps:
            if name not in only:
                continue
            log(f"== {name}")
            t0 = time.perf_counter()
            try:
                fn()
            except Exception as ex:  # keep going: a failed scenario is reported, not fatal
                log(f"{name} FAILED: {ex}")
                res.extra.append(f"{name} failed: {str(ex)[:300]}")
            log(f"== {name} took {time.perf_counter()-t0:.1f}s")
            report(res, args, started, final=False)
        print(report(res, args, started, final=True), flush=True)  # before the (slow) cleanup
    finally:
        log("cleaning up (stopping dockerd and the registry, removing the temp dir)")
        env.cleanup()


def report(res, args, started, final):
    load = open("/proc/loadavg").read().split()[:3]
    text = (f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {' '.join(load)}, "
            f"reps={args.reps}, total {time.time()-started:.0f}s{'' if final else ' (partial)'}\n\n"
            f"{render(res, args.reps)}\n\n" + (f"{rl}\n\n" if (rl := render_rootless(res)) else "")
            + "\n".join(f"- {l}" for l in res.extra) + "\n")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
