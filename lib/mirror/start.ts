import os from "node:os";
import type { Runtime } from "../runtime";
import { EventListener, GeneratorCoordinator, sqlFromPrisma, WorkerPool, type Sql } from "../scheduler";
import { loadSecretKey, openJson, registrySecretAad, type RegistrySecret } from "../secrets";
import { parseRegistryConfig, type RegistryConfig } from "../sync";
import { applyRegistryConfig } from "./apply-config";
import { OnDemand } from "./on-demand";
import { ServiceCache } from "./services";
import { createTaskHandler } from "./task-handler";

export interface Mirror {
  sql: Sql;
  listener: EventListener;
  services: ServiceCache;
  pool: WorkerPool | null;
  coordinator: GeneratorCoordinator;
  onDemand: OnDemand;
  /** Stops claiming work, lets running tasks finish until the deadline, then hands the rest back. */
  stop(deadlineMs?: number): Promise<void>;
}

export interface StartMirrorOptions {
  /** Workers in this process (0: this process only serves and leads generators). */
  workers?: number;
  generatorTickMs?: number;
  leaseMs?: number;
}

/** Default worker count: sync is I/O-bound, so a few per core. */
export function defaultWorkers(): number {
  return Math.max(2, os.availableParallelism() * 2);
}

/** Parses the config file's registries (throws CONFIG_INVALID naming the field). */
export function parseConfiguredRegistries(raw: unknown[]): Array<{ raw: Record<string, unknown>; parsed: RegistryConfig }> {
  return raw.map((r) => ({ raw: r as Record<string, unknown>, parsed: parseRegistryConfig(r) }));
}

/**
 * Starts the sync machinery in this process: config-file registries applied, the LISTEN
 * connection, a worker pool, the generator coordinator (leadership decided in Postgres) and the
 * on-demand source for /v2.
 */
export async function startMirror(runtime: Runtime, options: StartMirrorOptions = {}): Promise<Mirror> {
  const log = runtime.log.child({ component: "mirror" });
  const registries = parseConfiguredRegistries(runtime.config.registries);
  await applyRegistryConfig(runtime.db, registries, log);
  const sql = sqlFromPrisma(runtime.db);
  const listener = new EventListener(runtime.databaseUrl, log);
  await listener.start();
  const { key } = loadSecretKey({ configured: runtime.config.auth.secretKey, dataDir: runtime.config.paths.dataDir, warn: (m) => log.warn(m) });
  const services = new ServiceCache({
    db: runtime.db,
    store: runtime.store,
    log,
    decodeSecret: (secret, registryId) => ({ ...openJson<RegistrySecret>(key, secret, registrySecretAad(registryId)) }),
    fileCredentials: new Map(registries.filter((r) => r.parsed.credentials).map((r) => [r.parsed.name, r.parsed.credentials])),
  });
  const workers = options.workers ?? runtime.config.server.workers ?? defaultWorkers();
  const pool =
    workers > 0
      ? new WorkerPool({
          sql,
          log,
          handler: createTaskHandler(services),
          concurrency: workers,
          listener,
          leaseMs: options.leaseMs ?? runtime.config.scheduler.leaseMs,
          retryPolicy: async (task) => {
            const e = task.registryId ? await services.get(task.registryId) : null;
            return { retryDelayMs: e?.config.retryDelayMs ?? 1000, maxRetryDelayMs: e?.config.maxRetryDelayMs ?? 60_000 };
          },
        })
      : null;
  pool?.start();
  const coordinator = new GeneratorCoordinator({
    sql,
    databaseUrl: runtime.databaseUrl,
    log,
    tickMs: options.generatorTickMs ?? runtime.config.scheduler.generatorTickMs,
    registries: async () => (await services.all()).filter((e) => e.enabled && e.config.pollIntervalMs).map((e) => ({ id: e.id })),
    resolve: async (id) => {
      const e = await services.get(id);
      if (!e || !e.enabled || !e.config.pollIntervalMs) return null;
      return { service: e.service, pollIntervalMs: e.config.pollIntervalMs, maxAttempts: e.config.maxRetries + 1 };
    },
  });
  coordinator.start();
  const onDemand = new OnDemand({ sql, store: runtime.store, services, listener, log });
  log.info({ workers, registries: registries.length }, "mirror started");

  let stopped: Promise<void> | null = null;
  return {
    sql,
    listener,
    services,
    pool,
    coordinator,
    onDemand,
    stop: (deadlineMs = 10_000) =>
      (stopped ??= (async () => {
        await coordinator.stop();
        await pool?.stop(deadlineMs);
        await listener.close();
        await services.close();
      })()),
  };
}
