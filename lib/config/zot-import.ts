/**
 * Imports a zot configuration: its `extensions.sync` block becomes Ferry registries, and the few
 * top-level settings that have a Ferry equivalent (`http.address`/`http.port`, `log.level`) are
 * carried over. Whatever has no Ferry meaning is listed in the report, never dropped silently.
 *
 * zot's sync fields (per registry): urls, onDemand, pollInterval, tlsVerify, certDir (a folder
 * holding ca.crt, client.cert, client.key), maxRetries, retryDelay, onlySigned, preserveDigest,
 * content[] {prefix, destination, stripPrefix, tags {regex, excludeRegex, semver}}; and at the
 * sync level credentialsFile (JSON keyed by registry host: {"host:port": {username, password}}).
 * Registries have no names in zot: each gets one from its first url's host.
 * zot's content rules serve both periodic sync and on-demand pulls; imported rules leave Ferry's
 * `periodic` unset, whose default (true) is exactly that.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { AppError } from "../errors";

/** One thing the import could not carry over, and why. */
export interface ImportNote {
  path: string;
  message: string;
}

export interface ZotImport {
  /** A Ferry config (registries and the mapped top-level settings). Credentials included when a credentialsFile was read. */
  config: Record<string, unknown>;
  /** What could not be mapped (unknown or unsupported fields, unreadable files). */
  report: ImportNote[];
}

/** A zot config is recognised by its shape: `distSpecVersion`, or `extensions`/`http`/`storage.rootDirectory`. */
export function looksLikeZotConfig(data: unknown): boolean {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return false;
  const d = data as Record<string, unknown>;
  if ("distSpecVersion" in d || "extensions" in d || "http" in d) return true;
  return typeof d.storage === "object" && d.storage !== null && "rootDirectory" in (d.storage as object);
}

const REGISTRY_FIELDS = new Set(["urls", "onDemand", "pollInterval", "tlsVerify", "certDir", "maxRetries", "retryDelay", "onlySigned", "content", "preserveDigest"]);
const CONTENT_FIELDS = new Set(["prefix", "destination", "stripPrefix", "tags"]);
const TAG_FIELDS = new Set(["regex", "excludeRegex", "semver"]);
const SYNC_FIELDS = new Set(["enable", "credentialsFile", "registries", "downloadDir"]);

/**
 * Maps a parsed zot config. `baseDir` resolves relative `credentialsFile` and `certDir` paths
 * (zot resolves them against its working directory; the config file's folder is the best guess).
 */
export function importZotConfig(zot: unknown, baseDir: string = process.cwd()): ZotImport {
  if (typeof zot !== "object" || zot === null || Array.isArray(zot)) throw new AppError("CONFIG_INVALID", "zot config: expected an object at the top level");
  const z = zot as Record<string, unknown>;
  const report: ImportNote[] = [];
  const note = (p: string, message: string) => report.push({ path: p, message });
  const config: Record<string, unknown> = {};

  for (const key of Object.keys(z)) {
    if (key === "extensions" || key === "http" || key === "log" || key === "distSpecVersion") continue;
    note(key, key === "storage" ? "zot's storage is not Ferry's store format; set storage.root (FERRY_STORE_DIR) for Ferry's own store" : "no Ferry equivalent");
  }
  const http = obj(z.http);
  if (http) {
    const server: Record<string, unknown> = {};
    if (typeof http.address === "string" && http.address) server.host = http.address;
    if (http.port !== undefined) server.port = Number(http.port);
    if (Object.keys(server).length) config.server = server;
    for (const key of Object.keys(http)) if (key !== "address" && key !== "port") note(`http.${key}`, key === "auth" || key === "accessControl" ? "Ferry has its own users, roles and pull tokens (see README: pull authentication)" : "no Ferry equivalent");
  }
  const log = obj(z.log);
  if (log) {
    if (typeof log.level === "string") config.logLevel = log.level === "panic" ? "fatal" : log.level;
    for (const key of Object.keys(log)) if (key !== "level") note(`log.${key}`, "Ferry logs JSON lines to stdout");
  }

  const ext = obj(z.extensions);
  if (ext) for (const key of Object.keys(ext)) if (key !== "sync") note(`extensions.${key}`, "not a sync setting; Ferry does not implement this zot extension");
  const sync = obj(ext?.sync);
  const registries: Record<string, unknown>[] = [];
  if (sync) {
    for (const key of Object.keys(sync)) if (!SYNC_FIELDS.has(key)) note(`extensions.sync.${key}`, "unknown sync field");
    if (sync.downloadDir !== undefined) note("extensions.sync.downloadDir", "Ferry stages downloads inside its store (no separate download folder)");
    const enabled = sync.enable !== false;
    if (!enabled) note("extensions.sync.enable", "sync is disabled in this file: registries are imported but none will be applied until enable is removed");
    const credentials = sync.credentialsFile !== undefined ? readCredentialsFile(String(sync.credentialsFile), baseDir, note) : {};
    const names = new Set<string>();
    const list = Array.isArray(sync.registries) ? sync.registries : [];
    if (sync.registries !== undefined && !Array.isArray(sync.registries)) note("extensions.sync.registries", "expected a list");
    list.forEach((entry, i) => {
      const r = mapRegistry(entry, `extensions.sync.registries[${i}]`, credentials, baseDir, note);
      if (!r) return;
      let name = nameFor(r.urls as string[]);
      for (let n = 2; names.has(name); n++) name = `${nameFor(r.urls as string[])}-${n}`;
      names.add(name);
      registries.push({ name, ...r });
    });
    if (enabled) config.registries = registries;
  }
  return { config, report };
}

function mapRegistry(
  entry: unknown,
  at: string,
  credentials: Record<string, { username: string; password: string }>,
  baseDir: string,
  note: (p: string, m: string) => void,
): Record<string, unknown> | null {
  const e = obj(entry);
  if (!e) {
    note(at, "expected an object; skipped");
    return null;
  }
  const urls = (Array.isArray(e.urls) ? e.urls.filter((u): u is string => typeof u === "string") : []).map((u, k) => {
    try {
      const parsed = new URL(u);
      if (parsed.pathname !== "/" && parsed.pathname !== "") {
        note(`${at}.urls[${k}]`, `a registry url has no path in Ferry: using ${parsed.origin} (put the path in content prefixes)`);
        return parsed.origin;
      }
      return parsed.origin;
    } catch {
      return u; // reported by the registry schema when the config is validated
    }
  });
  if (urls.length === 0) {
    note(`${at}.urls`, "no urls; registry skipped");
    return null;
  }
  const out: Record<string, unknown> = { urls };
  for (const key of Object.keys(e)) if (!REGISTRY_FIELDS.has(key)) note(`${at}.${key}`, "unknown registry field");
  for (const key of ["onDemand", "tlsVerify", "onlySigned"] as const) if (e[key] !== undefined) out[key] = e[key];
  if (e.pollInterval !== undefined) out.pollInterval = e.pollInterval;
  // zot waits retryDelay between every retry; Ferry backs off from retryDelay up to maxRetryDelay.
  if (e.retryDelay !== undefined) out.retryDelay = out.maxRetryDelay = e.retryDelay;
  if (e.maxRetries !== undefined) out.maxRetries = e.maxRetries;
  // zot converts Docker manifests to OCI unless preserveDigest; Ferry preserves by default.
  if (e.preserveDigest === false || e.preserveDigest === undefined) {
    if (e.preserveDigest === false) out.convertToOCI = true;
    else note(`${at}.preserveDigest`, "zot converts Docker manifests to OCI unless preserveDigest is true; Ferry keeps upstream digests by default (set convertToOCI: true for zot's behaviour)");
  }
  if (typeof e.certDir === "string" && e.certDir) {
    const dir = path.resolve(baseDir, e.certDir);
    const read = (f: string) => {
      const p = path.join(dir, f);
      return existsSync(/* turbopackIgnore: true */ p) ? readFileSync(/* turbopackIgnore: true */ p, "utf8") : undefined;
    };
    const ca = read("ca.crt");
    const cert = read("client.cert");
    const key = read("client.key");
    if (ca) out.caCert = ca;
    if (cert && key) {
      out.clientCert = cert;
      out.clientKey = key;
    } else if (cert || key) note(`${at}.certDir`, "client.cert and client.key must both be present; mutual TLS not configured");
    if (!ca && !cert && !key) note(`${at}.certDir`, `no ca.crt, client.cert or client.key in ${dir}`);
  }
  if (Array.isArray(e.content)) {
    out.content = e.content.flatMap((c, j) => {
      const rule = obj(c);
      const cat = `${at}.content[${j}]`;
      if (!rule || typeof rule.prefix !== "string") {
        note(cat, "a content rule needs a prefix; skipped");
        return [];
      }
      for (const key of Object.keys(rule)) if (!CONTENT_FIELDS.has(key)) note(`${cat}.${key}`, "unknown content field");
      const m: Record<string, unknown> = { prefix: rule.prefix };
      if (typeof rule.destination === "string" && rule.destination !== "/" && rule.destination !== "") m.destination = rule.destination;
      if (rule.stripPrefix !== undefined) {
        if (m.destination) m.stripPrefix = rule.stripPrefix;
        else if (rule.stripPrefix) note(`${cat}.stripPrefix`, "stripPrefix without a destination (or with \"/\") puts names at the root: Ferry needs a destination folder for it; ignored");
      }
      const tags = obj(rule.tags);
      if (tags) {
        const t: Record<string, unknown> = {};
        for (const key of Object.keys(tags)) if (!TAG_FIELDS.has(key)) note(`${cat}.tags.${key}`, "unknown tags field");
        if (typeof tags.regex === "string") t.regex = tags.regex;
        if (typeof tags.excludeRegex === "string") t.excludeRegex = tags.excludeRegex;
        if (tags.semver !== undefined) t.semver = tags.semver;
        if (Object.keys(t).length) m.tags = t;
      }
      return [m];
    });
  } else if (e.content !== undefined) note(`${at}.content`, "expected a list");
  const host = new URL(urls[0]!).host;
  const cred = credentials[host] ?? credentials[new URL(urls[0]!).hostname];
  if (cred) out.credentials = { username: cred.username, password: cred.password };
  return out;
}

function readCredentialsFile(file: string, baseDir: string, note: (p: string, m: string) => void): Record<string, { username: string; password: string }> {
  const p = path.resolve(baseDir, file);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(/* turbopackIgnore: true */ p, "utf8"));
  } catch (err) {
    note("extensions.sync.credentialsFile", `cannot read ${p}: ${(err as Error).message.split("\n")[0]}`);
    return {};
  }
  const out: Record<string, { username: string; password: string }> = {};
  for (const [host, v] of Object.entries(obj(data) ?? {})) {
    const c = obj(v);
    if (c && typeof c.username === "string" && typeof c.password === "string") out[host] = { username: c.username, password: c.password };
    else note(`credentialsFile[${JSON.stringify(host)}]`, "expected {username, password}");
  }
  return out;
}

/** `registry-1.docker.io` → `registry-1.docker.io`; `127.0.0.1:5000` → `127.0.0.1-5000`. */
function nameFor(urls: string[]): string {
  let host = "registry";
  try {
    host = new URL(urls[0]!).host;
  } catch {
    // the url is reported by the registry schema
  }
  const name = host.replace(/[^a-zA-Z0-9._-]/g, "-").replace(/^[^a-zA-Z0-9]+/, "").slice(0, 60);
  return name || "registry";
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}
