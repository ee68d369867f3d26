import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { AppError } from "../errors";
import { resolveAlertSecrets, secretEnvNames } from "./alerts";
import { configSchema, ENV_KEYS, ENV_PASSTHROUGH, type FerryConfig } from "./schema";
import { importZotConfig, looksLikeZotConfig, type ImportNote } from "./zot-import";

const DEFAULT_FILES = ["ferry.config.json", "ferry.config.yaml", "ferry.config.yml"];

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** An explicit config file; otherwise FERRY_CONFIG, then ferry.config.{json,yaml,yml} in cwd. */
  file?: string;
}

/** A resolved configuration with every path made absolute. */
export interface ResolvedConfig extends FerryConfig {
  /** `importReport`: when the file is a zot config, what could not be mapped (logged at start). */
  source: { file: string | null; format?: "ferry" | "zot"; importReport?: ImportNote[] };
  paths: { dataDir: string; embeddedPgDir: string; storeRoot: string };
}

/**
 * Reads the config file and the environment, validates them with one zod schema and resolves
 * paths. Throws AppError CONFIG_INVALID whose message names the key, the value and what is
 * expected, so that `ferry start` can print one line and exit 2.
 */
export function loadConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = findConfigFile(options.file ?? env.FERRY_CONFIG, cwd);
  let raw: Record<string, unknown> = file ? readConfigFile(file) : {};
  // A zot config is accepted as it is: its sync block becomes Ferry registries.
  const zot = file && looksLikeZotConfig(raw) ? importZotConfig(raw, path.dirname(file)) : null;
  if (zot) raw = zot.config;
  // Where each value came from, to name env keys in errors instead of config paths.
  const origin = new Map<string, string>();
  // Variables holding webhook secrets are named by the file, so they are known settings too.
  const secretVars = new Set(secretEnvNames(raw));

  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === "") continue;
    const target = ENV_KEYS[name];
    if (!target) {
      if (name.startsWith("FERRY_") && !ENV_PASSTHROUGH.has(name) && !secretVars.has(name)) {
        throw configError(name, value, `a known setting (${knownEnvKeys()})`);
      }
      continue;
    }
    // FERRY_DATABASE_URL beats DATABASE_URL, FERRY_PORT beats PORT: the specific name wins.
    const key = target.join(".");
    if (origin.has(key) && !name.startsWith("FERRY_")) continue;
    setPath(raw, target, value);
    origin.set(key, name);
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw fromZod(parsed.error, raw, origin, file);
  const cfg = { ...parsed.data, alerts: resolveAlertSecrets(parsed.data.alerts, env) };
  const dataDir = path.resolve(cwd, cfg.dataDir);
  return {
    ...cfg,
    source: zot ? { file, format: "zot", importReport: zot.report } : { file, format: "ferry" },
    paths: {
      dataDir,
      embeddedPgDir: path.resolve(cwd, cfg.database.embeddedDir ?? path.join(dataDir, "pg")),
      storeRoot: path.resolve(cwd, cfg.storage.root ?? path.join(dataDir, "store")),
    },
  };
}

/**
 * The config file Ferry would use (as `loadConfig` finds it) parsed but neither validated nor
 * resolved: `ferry config export` copies its `alerts` section, which lives only in the file.
 */
export function readRawConfig(options: { file?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): { file: string | null; raw: Record<string, unknown> } {
  const file = findConfigFile(options.file ?? (options.env ?? process.env).FERRY_CONFIG, options.cwd ?? process.cwd());
  return { file, raw: file ? readConfigFile(file) : {} };
}

function findConfigFile(explicit: string | undefined, cwd: string): string | null {
  if (explicit) {
    const p = path.resolve(cwd, explicit);
    if (!existsSync(/* turbopackIgnore: true */ p)) throw configError("FERRY_CONFIG", explicit, "a path to an existing config file");
    return p;
  }
  for (const name of DEFAULT_FILES) {
    const p = path.join(/* turbopackIgnore: true */ cwd, name);
    if (existsSync(/* turbopackIgnore: true */ p)) return p;
  }
  return null;
}

function readConfigFile(file: string): Record<string, unknown> {
  const text = readFileSync(/* turbopackIgnore: true */ file, "utf8");
  let data: unknown;
  try {
    data = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new AppError("CONFIG_INVALID", `${file}: cannot parse: ${(err as Error).message.split("\n")[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new AppError("CONFIG_INVALID", `${file}: expected an object at the top level`);
  }
  return data as Record<string, unknown>;
}

function setPath(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (typeof next !== "object" || next === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

function getPath(obj: unknown, keys: PropertyKey[]): unknown {
  let cur = obj;
  for (const k of keys) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function knownEnvKeys(): string {
  return Object.keys(ENV_KEYS).filter((k) => k.startsWith("FERRY_")).join(", ");
}

function configError(key: string, value: unknown, expected: string): AppError {
  return new AppError("CONFIG_INVALID", `Invalid configuration: ${key}=${show(key, value)}: expected ${expected}`, {
    details: { key, expected },
  });
}

function show(key: string, value: unknown): string {
  // Connection URLs carry passwords: never echo them back.
  if (/URL/i.test(key) && typeof value === "string") return JSON.stringify(value.replace(/\/\/[^@/]*@/, "//***@"));
  // Webhook secrets (alerts.webhooks.N.secret) are not echoed at all.
  if (/(^|\.)secret$/i.test(key)) return "[redacted]";
  return JSON.stringify(value) ?? String(value);
}

function fromZod(error: z.ZodError, raw: unknown, origin: Map<string, string>, file: string | null): AppError {
  const issue = error.issues[0]!;
  const dotted = issue.path.map(String).join(".");
  const key = origin.get(dotted) ?? (file ? `${path.basename(file)}: ${dotted || "(root)"}` : dotted);
  let expected = issue.message.replace(/^expected /i, "");
  if (issue.code === "unrecognized_keys") {
    const names = (issue as { keys: string[] }).keys.join(", ");
    return new AppError("CONFIG_INVALID", `Invalid configuration: ${key ? `${key}: ` : ""}unknown key(s) ${names}`, {
      details: { key: dotted, unknown: names },
    });
  }
  if (issue.code === "invalid_type" && /received undefined/.test(issue.message)) expected = "a value";
  return configError(key, getPath(raw, issue.path), expected);
}
