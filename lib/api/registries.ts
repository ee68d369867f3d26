/**
 * Registries as the APIs manage them. The `registry` row keeps the config the client wrote
 * (re-parseable by `parseRegistryConfig`) minus its secrets; `credentials` and `clientKey` are
 * sealed together into `registry.secret`, bound to the registry's id (lib/secrets).
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../db";
import type { Prisma } from "../db/generated/client";
import { AppError } from "../errors";
import { invalidateApiCaches } from "./caches";
import { generatorSnapshot, pauseRegistry, resetGenerator, resumeRegistry, triggerRound, type GeneratorStatus } from "../scheduler";
import { openJson, registrySecretAad, sealJson, type RegistrySecret } from "../secrets";
import { parseRegistryConfig } from "../sync";
import type { ApiEnv } from "./env";
import { urlHealthFor, type UrlHealthView } from "./url-health";

export interface RegistryView {
  id: string;
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
  /** Credentials or a client key are stored (sealed); their values are never returned. */
  hasCredentials: boolean;
  createdAt: Date;
  updatedAt: Date;
  /**
   * 1 at creation, one more on every change by anyone. Send it back with an edit (REST
   * `If-Match`, GraphQL `ifVersion`) to have the edit refused if the registry changed since.
   */
  version: number;
  /** Each url's last observed health and rate-limit remaining (lib/mirror records them). */
  urlHealth: UrlHealthView[];
}

const SECRET_FIELDS = ["credentials", "clientKey"] as const;

type Row = { id: string; name: string; enabled: boolean; config: unknown; secret?: Uint8Array | null; createdAt: Date; updatedAt: Date; version: number };

/**
 * The secret column is loaded only to say whether it is set; the box stays sealed and never
 * leaves this function.
 */
async function toViews(db: Db, rows: Row[]): Promise<RegistryView[]> {
  const health = await urlHealthFor(db, rows.map((r) => r.config as Record<string, unknown>));
  return rows.map((r, i) => ({
    id: r.id,
    name: r.name,
    enabled: r.enabled,
    config: r.config as Record<string, unknown>,
    hasCredentials: r.secret != null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    version: r.version,
    urlHealth: health[i]!,
  }));
}

export async function registryView(db: Db, r: Row): Promise<RegistryView> {
  return (await toViews(db, [r]))[0]!;
}

export async function listRegistries(db: Db): Promise<RegistryView[]> {
  return toViews(db, await db.registry.findMany({ orderBy: { name: "asc" }, omit: { secret: false } }));
}

export async function getRegistry(db: Db, name: string): Promise<RegistryView> {
  const r = await db.registry.findUnique({ where: { name }, omit: { secret: false } });
  if (!r) throw new AppError("NOT_FOUND", `registry ${name} does not exist`);
  return registryView(db, r);
}

/** The registry's id, or NOT_FOUND. */
export async function registryIdOf(db: Db, name: string): Promise<string> {
  const r = await db.registry.findUnique({ where: { name }, select: { id: true } });
  if (!r) throw new AppError("NOT_FOUND", `registry ${name} does not exist`);
  return r.id;
}

/** The stored config with its secrets merged back, for code that talks to the upstream. */
export async function registryConfigWithSecrets(env: ApiEnv, name: string): Promise<Record<string, unknown>> {
  const r = await env.db.registry.findUnique({ where: { name }, omit: { secret: false } });
  if (!r) throw new AppError("NOT_FOUND", `registry ${name} does not exist`);
  const config = r.config as Record<string, unknown>;
  return r.secret ? { ...config, ...openJson<RegistrySecret>(env.secretKey, r.secret, registrySecretAad(r.id)) } : config;
}

type WriteInput = Record<string, unknown> & { enabled?: boolean };

function splitInput(input: WriteInput): { enabled: boolean | undefined; config: Record<string, unknown>; secret: Partial<Record<(typeof SECRET_FIELDS)[number], unknown>> } {
  const { enabled, ...rest } = input;
  const config: Record<string, unknown> = {};
  const secret: Partial<Record<(typeof SECRET_FIELDS)[number], unknown>> = {};
  for (const [k, v] of Object.entries(rest)) {
    if ((SECRET_FIELDS as readonly string[]).includes(k)) secret[k as (typeof SECRET_FIELDS)[number]] = v;
    else config[k] = v;
  }
  return { enabled, config, secret };
}

function sealSecret(env: ApiEnv, id: string, secret: RegistrySecret): { box: Uint8Array<ArrayBuffer> | null } {
  if (secret.credentials === undefined && secret.clientKey === undefined) return { box: null };
  return { box: new Uint8Array(sealJson(env.secretKey, secret, registrySecretAad(id))) };
}

/** Creates a registry, validated exactly like one from the config file. */
export async function createRegistry(env: ApiEnv, input: WriteInput): Promise<RegistryView> {
  const { enabled, config, secret } = splitInput(input);
  const full = { ...config, ...Object.fromEntries(Object.entries(secret).filter(([, v]) => v !== undefined && v !== null)) };
  const parsed = parseRegistryConfig(full);
  const id = randomUUID();
  const sealed = sealSecret(env, id, { ...(parsed.credentials ? { credentials: parsed.credentials } : {}), ...(parsed.clientKey ? { clientKey: parsed.clientKey } : {}) });
  try {
    const row = await env.db.registry.create({
      data: { id, name: parsed.name, enabled: enabled ?? true, config: config as Prisma.InputJsonValue, secret: sealed.box },
    });
    return await registryView(env.db, { ...row, secret: sealed.box });
  } catch (err) {
    if ((err as { code?: string }).code === "P2002") throw new AppError("CONFLICT", `registry ${parsed.name} already exists`);
    throw err;
  }
}

/**
 * Replaces a registry's config. Secrets: a field left out keeps its stored value, `null`
 * removes it, a value replaces it. The name cannot change (tasks and tags refer to it). With
 * `ifVersion`, the edit applies only to that version of the registry (PRECONDITION_FAILED when
 * someone changed it since, e.g. promoted a repository into the rules the caller is replacing).
 */
export async function updateRegistry(env: ApiEnv, name: string, input: WriteInput, options: { ifVersion?: number } = {}): Promise<RegistryView> {
  const { enabled, config, secret } = splitInput(input);
  if (config.name !== undefined && config.name !== name) throw new AppError("BAD_USER_INPUT", "a registry cannot be renamed; create a new one", { details: { field: "name" } });
  config.name = name;
  // The stored secrets are read, merged and written back under the row's lock: a concurrent edit
  // that rotated them between a separate read and write would be silently undone (it answered
  // 200), and a delete in between would turn the write into an unmapped "record not found".
  const { updated, box } = await env.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM registry WHERE name = ${name} FOR UPDATE`;
    const row = await tx.registry.findUnique({ where: { name }, omit: { secret: false } });
    if (!row) throw new AppError("NOT_FOUND", `registry ${name} does not exist`);
    if (options.ifVersion !== undefined && options.ifVersion !== row.version) throw stale(name, options.ifVersion, row.version);
    const needsOld = SECRET_FIELDS.some((f) => secret[f] === undefined);
    const old: RegistrySecret = needsOld && row.secret ? openJson<RegistrySecret>(env.secretKey, row.secret, registrySecretAad(row.id)) : {};
    const merged: Record<string, unknown> = {};
    for (const f of SECRET_FIELDS) {
      const v = secret[f] === undefined ? old[f] : secret[f];
      if (v !== null && v !== undefined) merged[f] = v;
    }
    const parsed = parseRegistryConfig({ ...config, ...merged });
    const sealed = sealSecret(env, row.id, { ...(parsed.credentials ? { credentials: parsed.credentials } : {}), ...(parsed.clientKey ? { clientKey: parsed.clientKey } : {}) });
    const updated = await tx.registry.update({
      where: { id: row.id },
      data: { config: config as Prisma.InputJsonValue, secret: sealed.box, ...(enabled === undefined ? {} : { enabled }) },
    });
    return { updated, box: sealed.box };
  });
  return registryView(env.db, { ...updated, secret: box });
}

/**
 * Deletes a registry with its generator and tag state; its task history stays (registry unset).
 * With `ifVersion`, only that version (PRECONDITION_FAILED when it changed since it was read).
 */
export async function deleteRegistry(env: ApiEnv, name: string, options: { ifVersion?: number } = {}): Promise<void> {
  const r = await env.db.registry.deleteMany({ where: { name, ...(options.ifVersion === undefined ? {} : { version: options.ifVersion }) } });
  if (r.count > 0) return;
  const now = options.ifVersion === undefined ? null : await env.db.registry.findUnique({ where: { name }, select: { version: true } });
  if (now) throw stale(name, options.ifVersion!, now.version);
  throw new AppError("NOT_FOUND", `registry ${name} does not exist`);
}

function stale(name: string, expected: number, current: number): AppError {
  return new AppError("PRECONDITION_FAILED", `registry ${name} was changed since version ${expected} was read (it is now version ${current}): read it again and reapply the change`, {
    details: { registry: name, expectedVersion: expected, currentVersion: current },
  });
}

export async function generators(env: ApiEnv, registry?: string): Promise<GeneratorStatus[]> {
  const id = registry === undefined ? undefined : await registryIdOf(env.db, registry);
  return generatorSnapshot(env.sql, id);
}

export async function generatorOf(env: ApiEnv, name: string): Promise<GeneratorStatus> {
  const [g] = await generators(env, name);
  if (g) return g;
  // No generator row yet: create it (the scheduler does the same lazily) and read it back. The
  // snapshot cache was filled before the row existed, so it must not answer the read-back.
  await pauseOrResume(env, name, null);
  invalidateApiCaches(env);
  const [again] = await generators(env, name);
  if (!again) throw new AppError("NOT_FOUND", `registry ${name} has no generator`);
  return again;
}

async function pauseOrResume(env: ApiEnv, name: string, pause: boolean | null): Promise<void> {
  const id = await registryIdOf(env.db, name);
  if (pause === null) {
    await env.sql.query(`INSERT INTO generator_state (registry_id) VALUES ($1::uuid) ON CONFLICT DO NOTHING RETURNING registry_id`, id);
  } else if (pause) await pauseRegistry(env.sql, id);
  else await resumeRegistry(env.sql, id);
}

export async function triggerRegistryRound(env: ApiEnv, name: string): Promise<GeneratorStatus> {
  await triggerRound(env.sql, await registryIdOf(env.db, name));
  return generatorOf(env, name);
}

export async function pauseRegistryByName(env: ApiEnv, name: string): Promise<GeneratorStatus> {
  await pauseOrResume(env, name, true);
  return generatorOf(env, name);
}

export async function resumeRegistryByName(env: ApiEnv, name: string): Promise<GeneratorStatus> {
  await pauseOrResume(env, name, false);
  return generatorOf(env, name);
}

export async function resetRegistryGenerator(env: ApiEnv, name: string): Promise<GeneratorStatus> {
  await resetGenerator(env.sql, await registryIdOf(env.db, name));
  return generatorOf(env, name);
}
