/**
 * `ferry`: Ferry's command line. Most commands talk to a running Ferry over the REST API
 * (`--url`/`FERRY_URL`, default http://localhost:3000; `--token`/`FERRY_TOKEN`, an API token);
 * `config validate|import-zot` read files and `store verify|gc|import` open the store directly.
 * Exit codes: 0 ok, 1 the operation failed (or the server refused it), 2 usage or invalid
 * configuration, 3 Ferry could not be reached.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { stringify as toYaml, parse as parseYaml } from "yaml";
import { exportAlerts, importZotConfig, loadConfig, readRawConfig } from "../../lib/config";
import { isAppError } from "../../lib/errors";
import { FsStore, importOciLayout, isValidRepoName, verifyStoreAt, DEFAULT_GC_GRACE_MS } from "../../lib/store";
import { parseRegistryConfig } from "../../lib/sync";
import { parseDuration } from "../../lib/sync/duration";
import { CliError, FerryApi, type GeneratorView, type TaskView } from "./api";
import { bytes, line, LIVE, table, target } from "./progress";

const USAGE = `usage: ferry <command> [options]

  start [--dev] [--no-build]           run the Ferry server (as npm start)
  worker                               run a headless sync worker (as npm run worker)
  status                               generators and queue of a running Ferry
  sync image <registry>/<repo>:<tag>   queue a sync of one image (or <registry>/<repo>@<digest>)
  sync repo <registry> <repo>          queue a sync of one upstream repository
      --wait                           follow the task until it ends (exit 1 if it fails)
  tasks [--registry R] [--status S] [--limit N]
  tasks --follow [<id>]                live progress (one task until it ends, or all live tasks)
      --until-idle                     with --follow and no id: exit when nothing is queued or running
  config validate [<file>]             check a Ferry or zot config file (default: the one Ferry would use)
  config import-zot <zot-config> [--format yaml|json] [--output <file>]
  config export [<file>] [--format yaml|json]  registries of a running Ferry, plus the alerts of
                                       the config file (default: the one Ferry would use), no secrets
  store verify [--root <dir>]          re-hash the store (exit 1 on corruption)
  store gc [--root <dir>] [--grace 1h] remove blobs nothing references
  store import <layout-dir> <repo> [--tag t]... [--root <dir>]
                                       seed <repo> from an OCI image layout (skopeo copy … oci:<dir>)

  --url <url>     Ferry's address (FERRY_URL, default http://localhost:3000)
  --token <tok>   API token (FERRY_TOKEN)
`;

const OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  follow: { type: "boolean", short: "f" },
  wait: { type: "boolean" },
  "until-idle": { type: "boolean" },
  registry: { type: "string" },
  status: { type: "string" },
  limit: { type: "string" },
  format: { type: "string" },
  output: { type: "string", short: "o" },
  root: { type: "string" },
  grace: { type: "string" },
  tag: { type: "string", multiple: true },
  interval: { type: "string" },
  dev: { type: "boolean" },
  "no-build": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parse>["values"];

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
}

function api(v: Values): FerryApi {
  return new FerryApi({ url: v.url ?? process.env.FERRY_URL ?? "http://localhost:3000", token: v.token ?? process.env.FERRY_TOKEN });
}

const out = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(argv: string[]): Promise<number> {
  const { values: v, positionals: p } = parse(argv);
  const [cmd, sub, ...rest] = p;
  if (v.help || !cmd || cmd === "help") {
    out(USAGE);
    return cmd || v.help ? 0 : 2;
  }
  switch (cmd) {
    case "start":
      await runEntry("../../server.ts");
      return -1;
    case "worker":
      await runEntry("./../worker.ts");
      return -1;
    case "status":
      return status(v);
    case "sync":
      return sync(v, sub, rest);
    case "tasks":
      return tasks(v, sub);
    case "config":
      return config(v, sub, rest);
    case "store":
      return store(v, sub, rest);
    default:
      throw new CliError(`unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`, 2);
  }
}

/** Runs a long-lived entry (server, worker) in this process; it owns the exit from here on. */
async function runEntry(rel: string): Promise<void> {
  await import(new URL(rel, import.meta.url).href);
}

async function status(v: Values): Promise<number> {
  const client = api(v);
  const { items } = await client.request<{ items: GeneratorView[] }>("GET", "/generators");
  const live = await client.request<{ items: TaskView[]; nextCursor: string | null }>("GET", "/tasks?status=queued&status=retrying&status=running&limit=200");
  const queued = live.items.filter((t) => t.status !== "running").length;
  const running = live.items.filter((t) => t.status === "running").length;
  const more = live.nextCursor ? "+" : "";
  if (items.length === 0) out("no registries with periodic sync");
  else {
    const rows = [["REGISTRY", "PHASE", "ROUND", "DONE", "QUEUED", "RUNNING", "NEXT ROUND", "LAST ERROR"]];
    for (const g of items) {
      rows.push([g.registryName, g.phase, String(g.round), String(g.reposDone), String(g.reposQueued), String(g.runningTasks), g.phase === "backing-off" ? `retry ${g.backoffUntil ?? "-"}` : g.nextRoundAt ?? "-", g.lastError ?? ""]);
    }
    out(table(rows));
  }
  out(`\nqueue: ${queued}${more} queued, ${running}${more} running`);
  return 0;
}

async function sync(v: Values, what: string | undefined, args: string[]): Promise<number> {
  const client = api(v);
  let task: TaskView;
  if (what === "image") {
    const ref = args[0];
    const m = ref ? /^([^/]+)\/(.+?)(?:@(sha256:[a-f0-9]{64})|:([^:/@]+))?$/.exec(ref) : null;
    if (!m || args.length !== 1) throw new CliError("usage: ferry sync image <registry>/<repository>:<tag>  (or @<digest>; the tag defaults to latest)", 2);
    task = await client.request<TaskView>("POST", `/registries/${encodeURIComponent(m[1]!)}/images/sync`, { repository: m[2], reference: m[3] ?? m[4] ?? "latest" });
  } else if (what === "repo") {
    if (args.length !== 2) throw new CliError("usage: ferry sync repo <registry> <repository>", 2);
    task = await client.request<TaskView>("POST", `/registries/${encodeURIComponent(args[0]!)}/repositories/sync`, { repository: args[1] });
  } else {
    throw new CliError("usage: ferry sync image <registry>/<repo>:<tag> | ferry sync repo <registry> <repo>", 2);
  }
  out(`task ${task.id} ${task.status}: ${task.kind} ${target(task)}`);
  return v.wait ? followOne(client, task.id, v) : 0;
}

async function tasks(v: Values, id: string | undefined): Promise<number> {
  const client = api(v);
  if (v.follow) return id ? followOne(client, id, v) : followAll(client, v);
  if (id) {
    const t = await client.request<TaskView & { events?: Array<{ at: string; level: string; message: string }> }>("GET", `/tasks/${encodeURIComponent(id)}`);
    out(line(t, 0, false));
    for (const e of t.events ?? []) out(`  ${e.at} ${e.level.padEnd(5)} ${e.message}`);
    return 0;
  }
  const { items } = await client.request<{ items: TaskView[] }>("GET", `/tasks?${query(v, 20)}`);
  if (items.length === 0) out("no tasks");
  for (const t of items) out(line(t, 0, false));
  return 0;
}

function query(v: Values, dflt: number): string {
  const q = new URLSearchParams();
  if (v.registry) q.set("registry", v.registry);
  for (const s of (v.status ?? "").split(",").filter(Boolean)) q.append("status", s);
  q.set("limit", v.limit ?? String(dflt));
  return q.toString();
}

const tty = () => process.stdout.isTTY === true;
function intervalMs(v: Values): number {
  const ms = v.interval ? parseDuration(v.interval) : 500;
  if (ms === undefined || ms < 50) throw new CliError("--interval must be a duration such as 500ms or 2s", 2);
  return ms;
}

/**
 * Follows one task until it ends. In a terminal the line is redrawn in place with a progress
 * bar; otherwise a line is printed whenever the status or the bytes change (for logs and CI).
 */
async function followOne(client: FerryApi, id: string, v: Values): Promise<number> {
  const every = intervalMs(v);
  let last = "";
  for (let tick = 0; ; tick++) {
    const t = await client.request<TaskView>("GET", `/tasks/${encodeURIComponent(id)}`);
    const done = !LIVE.has(t.status);
    if (tty()) process.stdout.write(`\r\x1b[2K${line(t, tick)}${done ? "\n" : ""}`);
    else {
      const key = `${t.status} ${t.bytesCopied}`;
      if (key !== last) out(line(t, 0));
      last = key;
    }
    if (done) {
      for (const o of t.outcomes) if (o.status === "failed") out(`  ${String(o.tag)}: ${String(o.code)} ${String(o.message ?? "")}`);
      return t.status === "succeeded" ? 0 : 1;
    }
    await sleep(every);
  }
}

/** Follows every live task (and those that just ended) until interrupted, or idle with --until-idle. */
async function followAll(client: FerryApi, v: Values): Promise<number> {
  const every = intervalMs(v);
  const since = new Date(Date.now() - 60_000).toISOString();
  let drawn = 0;
  const printed = new Map<string, string>();
  let sawWork = false;
  for (let tick = 0; ; tick++) {
    const q = new URLSearchParams(query(v, 50));
    q.set("since", since);
    const { items } = await client.request<{ items: TaskView[] }>("GET", `/tasks?${q}`);
    const live = items.filter((t) => LIVE.has(t.status));
    if (live.length) sawWork = true;
    const shown = items.filter((t) => LIVE.has(t.status) || (t.finishedAt && Date.now() - Date.parse(t.finishedAt) < 10_000)).reverse();
    if (tty()) {
      const lines = [`${live.length} live task(s) · ${new Date().toLocaleTimeString()}`, ...shown.map((t) => line(t, tick))];
      process.stdout.write(`${drawn ? `\x1b[${drawn}A` : ""}${lines.map((l) => `\x1b[2K${l}`).join("\n")}\n\x1b[J`);
      drawn = lines.length;
    } else {
      for (const t of shown) {
        const key = `${t.status} ${t.bytesCopied}`;
        if (printed.get(t.id) !== key) out(line(t, 0));
        printed.set(t.id, key);
      }
    }
    if (v["until-idle"] && live.length === 0 && (sawWork || tick > 0)) return 0;
    await sleep(every);
  }
}

async function config(v: Values, sub: string | undefined, args: string[]): Promise<number> {
  if (sub === "validate") {
    const cfg = loadConfig(args[0] ? { file: args[0] } : {});
    const names = cfg.registries.map((r) => parseRegistryConfig(r).name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new CliError(`registry ${dup} is declared twice`, 2);
    for (const n of cfg.source.importReport ?? []) process.stderr.write(`not mapped: ${n.path}: ${n.message}\n`);
    out(`ok: ${cfg.source.file ?? "(no config file)"}${cfg.source.format === "zot" ? " (zot config)" : ""}: ${names.length} registr${names.length === 1 ? "y" : "ies"}${names.length ? ` (${names.join(", ")})` : ""}`);
    return 0;
  }
  if (sub === "import-zot") {
    const file = args[0];
    if (!file) throw new CliError("usage: ferry config import-zot <zot-config.json|yaml> [--format yaml|json] [--output file]", 2);
    let data: unknown;
    try {
      const text = readFileSync(file, "utf8");
      data = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new CliError(`${file}: ${(err as Error).message.split("\n")[0]}`, 2);
    }
    const { config: imported, report } = importZotConfig(data, path.dirname(path.resolve(file)));
    for (const r of (imported.registries as unknown[] | undefined) ?? []) parseRegistryConfig(r);
    emit(imported, v);
    for (const n of report) process.stderr.write(`not mapped: ${n.path}: ${n.message}\n`);
    process.stderr.write(`imported ${((imported.registries as unknown[] | undefined) ?? []).length} registries; ${report.length} note(s)\n`);
    return 0;
  }
  if (sub === "export") {
    const { items } = await api(v).request<{ items: Array<{ name: string; enabled: boolean; config: Record<string, unknown> }> }>("GET", "/registries");
    const registries = items
      .filter((r) => r.enabled)
      .map((r) => {
        const { "x-ferry-source": _source, credentials: _c, clientKey: _k, ...cfg } = r.config;
        return { name: r.name, ...cfg };
      });
    // Webhooks live only in the config file (the API shows neither their URLs nor secrets).
    const { file, raw } = readRawConfig({ file: args[0] });
    if (raw.alerts === undefined) {
      emit({ registries }, v);
      return 0;
    }
    const { alerts, omitted } = exportAlerts(raw.alerts);
    emit({ registries, alerts }, v);
    for (const o of omitted) {
      process.stderr.write(`webhook ${o.webhook}: its inline secret was omitted (${file}); the export reads it from $${o.secretEnv} instead: set it, or put the secret back\n`);
    }
    return 0;
  }
  throw new CliError("usage: ferry config validate [file] | import-zot <file> | export", 2);
}

function emit(data: unknown, v: Values): void {
  const format = v.format ?? (v.output?.endsWith(".json") ? "json" : "yaml");
  if (format !== "yaml" && format !== "json") throw new CliError("--format must be yaml or json", 2);
  const text = format === "json" ? `${JSON.stringify(data, null, 2)}\n` : toYaml(data);
  if (v.output) writeFileSync(v.output, text, { mode: 0o600 });
  else process.stdout.write(text);
}

async function store(v: Values, sub: string | undefined, args: string[]): Promise<number> {
  const root = v.root ?? loadConfig().paths.storeRoot;
  if (sub === "import") return storeImport(root, args, v.tag);
  if (!existsSync(root)) throw new CliError(`no store at ${root} (pass --root or set FERRY_STORE_DIR)`, 2);
  if (sub === "verify") {
    const { summary, exitCode } = await verifyStoreAt(root);
    out(summary);
    return exitCode;
  }
  if (sub === "gc") {
    const grace = v.grace === undefined ? DEFAULT_GC_GRACE_MS : parseDuration(v.grace);
    if (grace === undefined) throw new CliError("--grace must be a duration such as 1h or 0s", 2);
    const s = await FsStore.open(root);
    const r = await s.gc({ gracePeriodMs: grace });
    out(`gc ${s.root}: ${r.repositories} repositories, removed ${r.removedFromRepositories} links and ${r.removedFromPool} blobs, ${bytes(r.bytesFreed)} freed`);
    for (const k of r.skipped) out(`skipped ${k.repo}: ${k.reason}`);
    return 0;
  }
  throw new CliError("usage: ferry store verify|gc|import [--root <dir>]", 2);
}

/** Seeding a new mirror is the point, so unlike verify and gc this creates the store if needed. */
async function storeImport(root: string, args: string[], tags: string[] | undefined): Promise<number> {
  const [dir, repo, extra] = args;
  if (!dir || !repo || extra !== undefined) throw new CliError("usage: ferry store import <layout-dir> <repo> [--tag t]... [--root <dir>]", 2);
  if (!isValidRepoName(repo)) throw new CliError(`invalid repository name ${JSON.stringify(repo)} (lowercase a-z0-9, separators . _ - /)`, 2);
  const s = await FsStore.open(root);
  let r;
  try {
    r = await importOciLayout(s, dir, repo, { tags });
  } catch (err) {
    if (isAppError(err)) throw new CliError(`import of ${dir} failed: ${err.code}: ${err.message}`, 1);
    throw err;
  }
  out(`imported ${r.repo}: ${r.tags.length} tags, ${r.manifests} manifests, ${r.blobs} blobs, ${(r.bytes / 1024 / 1024).toFixed(1)} MiB`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else if (isAppError(err) && err.code === "CONFIG_INVALID") {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`ferry: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
