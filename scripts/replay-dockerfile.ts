// Replays deploy/Dockerfile without a container engine (none is available on Ferry's machines),
// then starts the final stage as a non-root user and checks that it serves. A by-hand check, not
// part of `npm test`: it runs `npm ci` and `next build` and takes minutes.
//
//   npx tsx scripts/replay-dockerfile.ts [--dockerfile deploy/Dockerfile] [--keep] [--npm 10.8.2|host]
//
// What it is and is not: each stage gets its own root folder and WORKDIR/COPY/VOLUME paths are
// mapped into it, but RUN executes on this host with the host's node (the base image is never
// fetched) and the npm that image bundles (--npm, installed from the npm registry into the temp
// dir). Absolute paths inside RUN commands are not remapped, so such a RUN is refused; RUN steps
// that change the host's users or system paths are skipped and printed. Every step is bounded
// (RUN 20 min, start 3 min, stop 30 s) and everything started is killed and removed at the end.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import picomatch from "picomatch";

const STEP_TIMEOUT_MS = 20 * 60_000;
const START_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 30_000;
/** RUN commands that would change this host rather than an image: skipped, never executed. */
const HOST_CHANGING = /(^|[\s;&|(])(groupadd|useradd|addgroup|adduser|usermod|chown|chgrp|apt-get|apt|dpkg)(\s|$)/;
/** An absolute path in a RUN command would touch the host, not the stage root. */
const ABSOLUTE_PATH = /(^|[\s=:'"(])\/(?!dev\/null\b)[A-Za-z]/;

/** The npm bundled with Node 20.20, i.e. in node:20-bookworm-slim; npm 11 (this host's) honours
 * package.json's allowScripts, npm 10 runs every install script, so the difference matters. */
const NODE20_IMAGE_NPM = "10.8.2";

type Instr = { line: number; op: string; args: string };
type Stage = { index: number; name: string; image: string; root: string; workdir: string; env: Record<string, string>; user: string; volumes: string[]; expose: string[]; entrypoint: string[]; cmd: string[] };
type Step = { what: string; status: "ok" | "skipped" | "FAILED"; ms: number; note?: string };

const { values: opts } = parseArgs({ options: { dockerfile: { type: "string", default: "deploy/Dockerfile" }, keep: { type: "boolean", default: false }, npm: { type: "string", default: NODE20_IMAGE_NPM } } });
const repo = spawnSync("git", ["rev-parse", "--show-toplevel"], { encoding: "utf8" }).stdout.trim();
const steps: Step[] = [];
const children = new Set<ChildProcess>();
let tmp = "";
let npmBin = "";
let npmVersion = "";

function say(msg: string): void {
  process.stdout.write(`[replay] ${msg}\n`);
}

class ReplayError extends Error {}

/** Times one step into the report; a throw marks it FAILED and ends the replay. */
async function step<T>(what: string, fn: () => Promise<T> | T, status: Step["status"] = "ok", note?: string): Promise<T> {
  say(`${what}${note ? `  (${note})` : ""}`);
  const t0 = performance.now();
  try {
    const r = await fn();
    steps.push({ what, status, ms: performance.now() - t0, note });
    return r;
  } catch (err) {
    steps.push({ what, status: "FAILED", ms: performance.now() - t0, note: (err as Error).message });
    throw err;
  }
}

/** Dockerfile lines: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instr[] {
  const out: Instr[] = [];
  let buf = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buf && (/^\s*#/.test(line) || !line.trim())) return;
    if (buf && /^\s*#/.test(line)) return; // comment lines inside a continuation are ignored
    if (!buf) start = i + 1;
    buf += (buf ? " " : "") + line.replace(/\\$/, "").trim();
    if (line.endsWith("\\")) return;
    const m = /^(\S+)\s*(.*)$/.exec(buf)!;
    out.push({ line: start, op: m[1]!.toUpperCase(), args: m[2]! });
    buf = "";
  });
  return out;
}

/** `--flag=value` options in front of an instruction's arguments. */
function flags(args: string): { flags: Record<string, string>; rest: string } {
  const f: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    f[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { flags: f, rest };
}

function execForm(args: string): string[] {
  if (args.trim().startsWith("[")) return JSON.parse(args) as string[];
  return ["/bin/sh", "-c", args];
}

/** `ENV A=1 B="two words"` and the legacy `ENV A value`. Variable references are not expanded. */
function parseEnv(args: string): Record<string, string> {
  if (args.includes("$")) throw new ReplayError(`ENV ${args}: variable expansion is not supported by the replay`);
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const [k, ...v] = args.split(/\s+/);
    return { [k!]: v.join(" ") };
  }
  const env: Record<string, string> = {};
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|(\S*))/g)) env[m[1]!] = m[3] ?? m[4] ?? m[5] ?? "";
  return env;
}

/** A container path of `stage` as a host path under its root. */
function inRoot(stage: Stage, p: string): string {
  const abs = path.posix.resolve(stage.workdir, p);
  return path.join(stage.root, abs);
}

/**
 * The build context: `git archive HEAD` (no untracked files, no node_modules) minus `.dockerignore`.
 * Also lists what a real `docker build .` in this working tree would send on top (untracked and
 * git-ignored paths that .dockerignore lets through): the replay cannot see those leak in.
 */
function exportContext(dir: string): { removed: string[]; leaks: string[]; untracked: string[] } {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("bash", ["-c", `set -o pipefail; git -C "$1" archive HEAD | tar -x -C "$2"`, "_", repo, dir], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new ReplayError("git archive HEAD failed");
  const ignoreFile = path.join(dir, ".dockerignore");
  // Docker's rules: patterns are relative to the context root, the last matching line wins, `!`
  // re-includes, and a pattern that matches a directory excludes everything under it.
  const rules = (existsSync(ignoreFile) ? readFileSync(ignoreFile, "utf8").split("\n") : []).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
    .map((l) => ({ neg: l.startsWith("!"), match: picomatch(path.posix.normalize(l.replace(/^!/, "").replace(/^\/+/, "")).replace(/\/$/, ""), { dot: true }) }));
  const excluded = (rel: string): boolean => {
    let out = false;
    const parts = rel.split("/");
    for (const rule of rules) {
      for (let i = 1; i <= parts.length; i++) if (rule.match(parts.slice(0, i).join("/"))) { out = !rule.neg; break; }
    }
    return out;
  };
  const removed: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      const out = excluded(child);
      // With `!` rules a directory is walked, since something under it may be re-included.
      if (e.isDirectory() && !(out && !rules.some((x) => x.neg))) walk(child);
      else if (out) {
        rmSync(path.join(dir, child), { recursive: true, force: true });
        removed.push(child);
      }
    }
  };
  walk("");
  const others = (...args: string[]): string[] =>
    spawnSync("git", ["-C", repo, "ls-files", "--others", "--directory", "--no-empty-directory", "--exclude-standard", ...args], { encoding: "utf8", maxBuffer: 64 << 20 })
      .stdout.split("\n").filter(Boolean).map((p) => p.replace(/\/$/, "")).filter((p) => !excluded(p));
  // git-ignored paths (dependencies, builds, local state) are .dockerignore's job; untracked
  // files are work in progress, worth a warning.
  return { removed, leaks: others("--ignored"), untracked: others() };
}

/** Puts the base image's npm first on RUN's PATH (`host`: the host's npm as it is). */
async function installNpm(version: string): Promise<void> {
  if (version !== "host") {
    const dir = path.join(tmp, "npm");
    await run(`npm install --no-audit --no-fund --prefix "${dir}" "npm@${version}"`, tmp, { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...hostNetEnv() });
    npmBin = path.join(dir, "node_modules", ".bin");
  }
  npmVersion = spawnSync("npm", ["-v"], { encoding: "utf8", env: { ...process.env, PATH: `${npmBin}:${process.env.PATH}` } }).stdout.trim();
  if (version !== "host" && npmVersion !== version) throw new ReplayError(`npm ${version} installed but npm -v says ${npmVersion}`);
}

/** Runs `bash -c cmd` in its own process group, killed as a whole on timeout or on our exit. */
function run(cmd: string, cwd: string, env: Record<string, string>, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", cmd], { cwd, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "inherit", "inherit"], detached: true });
    children.add(child);
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), timeoutMs);
    child.on("exit", (code, sig) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve();
      else reject(new ReplayError(`exit ${code ?? sig}${sig === "SIGKILL" ? ` (timeout ${timeoutMs / 1000}s)` : ""}`));
    });
  });
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, sig);
  } catch {
    /* already gone */
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The host's network settings (CA bundle, proxies, registry), as a build machine would have them. */
function hostNetEnv(): Record<string, string> {
  const keep = /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|https?_proxy|no_proxy|npm_config_registry)$/i;
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => keep.test(e[0]) && e[1] !== undefined));
}

/**
 * The environment of RUN steps: host PATH (node) with the image's npm first, the stage's own empty
 * /root as HOME (so no tool finds a host cache, e.g. Prisma's engines), the host's npm cache (as a
 * BuildKit cache mount would; it only saves downloads), network settings, the stage's ENV.
 */
function runEnv(stage: Stage): Record<string, string> {
  const home = inRoot(stage, "/root");
  mkdirSync(home, { recursive: true });
  const npmCache = process.env.npm_config_cache ?? path.join(os.homedir(), ".npm");
  return { PATH: `${npmBin ? `${npmBin}:` : ""}${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: home, npm_config_cache: npmCache, ...hostNetEnv(), ...stage.env };
}

/** Replays `instrs` into `stages` (filled as it goes, so a failure still reports what was built). */
async function replay(instrs: Instr[], contextDir: string, stages: Stage[]): Promise<void> {
  let st: Stage | undefined;
  for (const ins of instrs) {
    const label = `${st && ins.op !== "FROM" ? `[${st.name}] ` : ""}${ins.op} ${ins.args}`.slice(0, 110);
    if (ins.op === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new ReplayError(`line ${ins.line}: FROM ${ins.args}: expected FROM <image> [AS <name>]`);
      const index = stages.length;
      const root = path.join(tmp, "stages", `${index}-${m[2] ?? "final"}`);
      st = { index, name: m[2] ?? String(index), image: m[1]!, root, workdir: "/", env: {}, user: "root", volumes: [], expose: [], entrypoint: [], cmd: [] };
      const prev = stages.find((s) => s.name === m[1]);
      const nodeTag = /^node:(\d+)/.exec(m[1]!)?.[1];
      const hostMajor = process.versions.node.split(".")[0];
      const note = prev ? `starts from stage ${prev.name}` : nodeTag && nodeTag !== hostMajor
        ? `WARNING: image wants node ${nodeTag}, host has ${process.versions.node}`
        : `base image not fetched: host node ${process.versions.node} and npm ${npmVersion} stand in for it`;
      const s = st;
      await step(label, () => (prev ? cpSync(prev.root, s.root, { recursive: true, verbatimSymlinks: true }) : mkdirSync(s.root, { recursive: true })), "ok", note);
      stages.push(st);
      continue;
    }
    if (!st) throw new ReplayError(`line ${ins.line}: ${ins.op} before FROM`);
    const s = st;
    switch (ins.op) {
      case "WORKDIR":
        await step(label, () => {
          s.workdir = path.posix.resolve(s.workdir, ins.args.trim());
          mkdirSync(inRoot(s, "."), { recursive: true });
        });
        break;
      case "COPY": {
        const { flags: f, rest } = flags(ins.args);
        for (const k of Object.keys(f)) if (k !== "from" && k !== "chown") throw new ReplayError(`line ${ins.line}: COPY --${k} is not supported by the replay`);
        const parts = execForm(rest.trim().startsWith("[") ? rest : JSON.stringify(rest.trim().split(/\s+/)));
        const dest = parts.pop()!;
        if (parts.some((p) => /[*?[]/.test(p))) throw new ReplayError(`line ${ins.line}: COPY wildcards are not supported by the replay`);
        const from = f.from ? stages.find((x) => x.name === f.from) : undefined;
        if (f.from && !from) throw new ReplayError(`line ${ins.line}: COPY --from=${f.from}: no such earlier stage`);
        const chownNote = f.chown ? (f.chown.startsWith("root") && process.getuid?.() === 0 ? `--chown=${f.chown}: files are root's already (the replay runs as root)` : `--chown=${f.chown} skipped`) : undefined;
        await step(label, () => {
          const destIsDir = dest.endsWith("/") || parts.length > 1;
          const target = inRoot(s, dest);
          for (const src of parts) {
            const hostSrc = from ? path.join(from.root, path.posix.resolve(from.workdir, src)) : path.join(contextDir, path.posix.normalize(src));
            if (!hostSrc.startsWith(from ? from.root : contextDir)) throw new ReplayError(`COPY ${src}: outside the build context`);
            if (!existsSync(hostSrc)) throw new ReplayError(`COPY ${src}: not found in ${from ? `stage ${from.name}` : "the build context (git HEAD minus .dockerignore)"}`);
            // A directory's contents are merged into the target; a file lands in a target directory by its name.
            const to = statSync(hostSrc).isDirectory() || !destIsDir ? target : path.join(target, path.basename(hostSrc));
            mkdirSync(statSync(hostSrc).isDirectory() ? to : path.dirname(to), { recursive: true });
            cpSync(hostSrc, to, { recursive: true, force: true, verbatimSymlinks: true, preserveTimestamps: true });
          }
        }, "ok", chownNote);
        break;
      }
      case "RUN": {
        if (ins.args.trim().startsWith("[")) throw new ReplayError(`line ${ins.line}: exec-form RUN is not supported by the replay`);
        if (HOST_CHANGING.test(ins.args)) {
          await step(label, () => undefined, "skipped", "changes users/system paths of the host; its effect is emulated by running as nobody with a fresh data dir");
          break;
        }
        if (ABSOLUTE_PATH.test(ins.args)) throw new ReplayError(`line ${ins.line}: RUN ${ins.args}: absolute paths are not remapped into the stage root; use WORKDIR-relative paths`);
        if (s.user !== "root") throw new ReplayError(`line ${ins.line}: RUN after USER ${s.user} is not supported by the replay`);
        await step(label, () => run(ins.args, inRoot(s, "."), runEnv(s)));
        break;
      }
      case "ENV":
        await step(label, () => void Object.assign(s.env, parseEnv(ins.args)));
        break;
      case "USER":
        await step(label, () => void (s.user = ins.args.trim()), "ok", "the start check runs as this uid/gid if this host has it, else as nobody:nogroup");
        break;
      case "VOLUME":
        await step(label, () => {
          s.volumes.push(...execForm(ins.args.trim().startsWith("[") ? ins.args : JSON.stringify(ins.args.trim().split(/\s+/))));
          for (const v of s.volumes) mkdirSync(inRoot(s, v), { recursive: true });
        }, "ok", "mounted as a fresh temp folder at start");
        break;
      case "EXPOSE":
        await step(label, () => void s.expose.push(...ins.args.trim().split(/\s+/)), "ok", "the start check uses a free port");
        break;
      case "ENTRYPOINT":
        await step(label, () => void ((s.entrypoint = execForm(ins.args)), (s.cmd = [])));
        break;
      case "CMD":
        await step(label, () => void (s.cmd = execForm(ins.args)));
        break;
      default:
        throw new ReplayError(`line ${ins.line}: ${ins.op} is not supported by the replay (supported: FROM, WORKDIR, COPY, RUN, ENV, USER, VOLUME, EXPOSE, ENTRYPOINT, CMD)`);
    }
  }
  if (!st) throw new ReplayError("no FROM in the Dockerfile");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; type: string; body: string; cookie: string }> {
  const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(30_000), ...init });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text(), cookie: res.headers.get("set-cookie")?.split(";")[0] ?? "" };
}

/** Signs in as the admin the start created and asks GraphQL who that is: scrypt, sessions, CSRF, Apollo, Prisma. */
async function loginAndQuery(base: string, username: string, password: string): Promise<void> {
  const json = { "content-type": "application/json" };
  const login = await get(`${base}/api/v1/session`, { method: "POST", headers: json, body: JSON.stringify({ username, password }) });
  if (login.status !== 201 || !login.cookie) throw new ReplayError(`POST /api/v1/session: ${login.status} ${login.body.slice(0, 200)}`);
  const { csrfToken } = JSON.parse(login.body) as { csrfToken: string };
  const gql = await get(`${base}/api/graphql`, { method: "POST", headers: { ...json, cookie: login.cookie, "x-csrf-token": csrfToken }, body: JSON.stringify({ query: "{ me { username } }" }) });
  const me = gql.status === 200 ? (JSON.parse(gql.body) as { data?: { me?: { username?: string } } }).data?.me?.username : undefined;
  if (me !== username) throw new ReplayError(`POST /api/graphql { me }: ${gql.status} ${gql.body.slice(0, 200)}`);
}

/** Starts the final stage's ENTRYPOINT+CMD as its USER (nobody for a named one), checks it serves, and stops it with SIGTERM. */
async function startFinal(s: Stage): Promise<void> {
  const argv = [...s.entrypoint, ...s.cmd];
  if (!argv.length) throw new ReplayError("the final stage has no ENTRYPOINT or CMD");
  // Each VOLUME becomes a fresh folder owned by the runtime user; ENV paths under it follow. A
  // numeric USER is used as it is (no user entry needed); a named one is played by nobody.
  const asRoot = process.getuid?.() === 0;
  // The image's useradd (skipped here) gives its uid a passwd entry, which the embedded Postgres
  // needs: a numeric uid this host does not know is played by nobody too.
  const numeric = /^(\d+)(?::(\d+))?$/.exec(s.user);
  const known = numeric !== null && spawnSync("getent", ["passwd", numeric[1]!]).status === 0;
  const runAs = numeric && known ? { uid: Number(numeric[1]), gid: Number(numeric[2] ?? numeric[1]), label: `uid ${numeric[1]}` } : { uid: uid("nobody"), gid: gid("nogroup"), label: numeric ? `nobody (uid ${numeric[1]} has no passwd entry on this host)` : "nobody" };
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...s.env };
  for (const [i, v] of s.volumes.entries()) {
    const host = path.join(tmp, `volume-${i}`);
    mkdirSync(host, { recursive: true });
    if (asRoot) chownSync(host, runAs.uid, runAs.gid);
    for (const [k, val] of Object.entries(env)) if (val === v || val.startsWith(`${v}/`)) env[k] = host + val.slice(v.length);
    env.HOME ??= host; // the image's user has its home in the volume
  }
  const privateTmp = path.join(tmp, "tmp");
  mkdirSync(privateTmp, { recursive: true });
  chmodSync(privateTmp, 0o1777);
  const port = await freePort();
  const admin = { user: "replay", password: "replay-check-password" };
  Object.assign(env, { TMPDIR: privateTmp, FERRY_PORT: String(port), FERRY_HOST: "127.0.0.1", FERRY_ADMIN_USER: admin.user, FERRY_ADMIN_PASSWORD: admin.password });
  const cmd = asRoot ? ["setpriv", `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, "--clear-groups", "--", ...argv] : argv;
  const base = `http://127.0.0.1:${port}`;
  let exited: { code: number | null; sig: string | null } | undefined;
  const child = await step(`start ${JSON.stringify(argv)} as ${asRoot ? runAs.label : os.userInfo().username} on :${port}`, () => {
    const c = spawn(cmd[0]!, cmd.slice(1), { cwd: inRoot(s, "."), env: env as NodeJS.ProcessEnv, stdio: ["ignore", "inherit", "inherit"], detached: true });
    children.add(c);
    c.on("exit", (code, sig) => void (exited = { code, sig }));
    return c;
  }, "ok", asRoot ? undefined : "WARNING: not root, so it runs as the current user");
  await step("wait until GET /api/health answers", async () => {
    const until = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new ReplayError(`Ferry exited during start (${exited.code ?? exited.sig})`);
      if (Date.now() > until) throw new ReplayError(`no answer within ${START_TIMEOUT_MS / 1000}s`);
      const ok = await get(`${base}/api/health`).then((r) => r.status === 200, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  const check = (what: string, url: string, pass: (r: Awaited<ReturnType<typeof get>>) => boolean) =>
    step(what, async () => {
      const r = await get(`${base}${url}`);
      if (!pass(r)) throw new ReplayError(`got ${r.status} ${r.type}: ${r.body.slice(0, 200)}`);
    });
  await check("GET /v2/ is 200", "/v2/", (r) => r.status === 200);
  await check("GET /api/health is {status: ok}", "/api/health", (r) => r.status === 200 && JSON.parse(r.body).status === "ok");
  await check("GET /api/ready is 200 (database up, migrations applied)", "/api/ready", (r) => r.status === 200);
  await check("GET /login renders the dashboard's login page (200 HTML)", "/login", (r) => r.status === 200 && r.type.includes("text/html") && /<form/i.test(r.body));
  await step("POST /api/v1/session signs the admin in; GraphQL { me } answers with it", () => loginAndQuery(base, admin.user, admin.password));
  await step(`SIGTERM; exits 0 within ${STOP_TIMEOUT_MS / 1000}s, leaving no process behind`, async () => {
    child.kill("SIGTERM");
    const until = Date.now() + STOP_TIMEOUT_MS;
    while ((!exited || groupAlive(child.pid!)) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    if (!exited) throw new ReplayError("still running");
    children.delete(child);
    if (groupAlive(child.pid!)) throw new ReplayError("Ferry exited but processes of its group (embedded Postgres?) are still running");
    if (exited.code !== 0) throw new ReplayError(`exit ${exited.code ?? exited.sig}`);
  });
}

function uid(name: string): number {
  return Number(spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout.trim());
}
function gid(name: string): number {
  return Number(spawnSync("getent", ["group", name], { encoding: "utf8" }).stdout.split(":")[2]);
}

function du(dir: string): string {
  return spawnSync("du", ["-sh", dir], { encoding: "utf8" }).stdout.split("\t")[0] ?? "?";
}

function cleanup(): void {
  for (const c of children) killGroup(c, "SIGKILL");
  children.clear();
  if (tmp && !opts.keep) rmSync(tmp, { recursive: true, force: true });
}

function report(stages: Stage[], failed: Error | undefined): void {
  const fmt = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 1000).toFixed(1)} s`);
  process.stdout.write("\n== replay report ==\n");
  for (const s of steps) process.stdout.write(`${s.status.padEnd(7)} ${fmt(s.ms).padStart(7)}  ${s.what}${s.note ? `\n                 ${s.note}` : ""}\n`);
  const total = steps.reduce((a, s) => a + s.ms, 0);
  process.stdout.write(`total ${fmt(total)}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; ${os.cpus().length} CPUs\n`);
  for (const s of stages) if (existsSync(s.root)) process.stdout.write(`stage ${s.name}: ${du(s.root)} (${s.root})\n`);
  const final = stages.at(-1);
  if (final && existsSync(path.join(final.root, "app", "node_modules"))) process.stdout.write(`  of which node_modules: ${du(path.join(final.root, "app", "node_modules"))}\n`);
  const bad = steps.filter((s) => s.status === "FAILED");
  process.stdout.write(failed ? `FAILED: ${failed.message}\n` : bad.length ? `FAILED: ${bad.map((s) => s.what).join("; ")}\n` : "all steps and checks passed\n");
  if (opts.keep) process.stdout.write(`kept ${tmp}\n`);
}

async function main(): Promise<number> {
  const dockerfile = path.resolve(repo, opts.dockerfile!);
  const instrs = parseDockerfile(readFileSync(dockerfile, "utf8"));
  // mkdtemp makes a 0700 folder; the image is started as nobody, who must reach into it.
  tmp = mkdtempSync(path.join(os.tmpdir(), "ferry-replay-"));
  chmodSync(tmp, 0o755);
  const dirty = spawnSync("git", ["-C", repo, "status", "--porcelain", "--", opts.dockerfile!, ".dockerignore"], { encoding: "utf8" }).stdout.trim();
  if (dirty) say(`note: uncommitted changes (the Dockerfile is read from the working tree, the context and its .dockerignore from HEAD):\n${dirty}`);
  const contextDir = path.join(tmp, "context");
  const stages: Stage[] = [];
  let failed: Error | undefined;
  try {
    await step(`npm for RUN steps: ${opts.npm}`, () => installNpm(opts.npm!));
    const { removed, leaks, untracked } = await step("build context: git archive HEAD, minus .dockerignore", () => exportContext(contextDir));
    const list = (xs: string[]): string => `${xs.slice(0, 8).join(", ")}${xs.length > 8 ? `, … (${xs.length})` : ""}`;
    steps.at(-1)!.note = `${du(contextDir)}; .dockerignore removed ${removed.length} paths${removed.length ? ` (${list(removed)})` : ""}`;
    if (leaks.length) steps.push({ what: "git-ignored paths a real `docker build .` here would also send", status: "FAILED", ms: 0, note: `add them to .dockerignore: ${list(leaks)}` });
    if (untracked.length) say(`WARNING: a real \`docker build .\` here would also send these untracked files: ${list(untracked)}`);
    await replay(instrs, contextDir, stages);
    await startFinal(stages.at(-1)!);
  } catch (err) {
    failed = err as Error;
    if (!(err instanceof ReplayError)) process.stderr.write(`${(err as Error).stack}\n`);
  }
  report(stages, failed);
  return failed || steps.some((s) => s.status === "FAILED") ? 1 : 0;
}

for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => {
  cleanup();
  process.exit(130);
});

const code = await main().catch((err: Error) => {
  process.stderr.write(`${err.stack}\n`);
  return 1;
});
cleanup();
process.exit(code);
