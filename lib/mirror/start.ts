import os from "node:os";
import { AlertService } from "../alerts";
import type { AlertsConfig } from "../config";
import { withLogContext, type FerryMetrics } from "../observability";
import type { Runtime } from "../runtime";
import { EventListener, GeneratorCoordinator, pruneHistory, sqlFromPrisma, WorkerPool, type Sql } from "../scheduler";
import { loadSecretKey, openJson, registrySecretAad, type RegistrySecret } from "../secrets";
import { parseRegistryConfig, type RegistryConfig } from "../sync";
import { applyRegistryConfig } from "./apply-config";
import { instrumentMirror } from "./metrics";
import { OnDemand } from "./on-demand";
import { ServiceCache } from "./services";
import { createTaskHandler } from "./task-handler";
import { recordUrlHealth } from "./url-health";
import { startUrlProbe } from "./url-probe";

export interface Mirror {
  sql: Sql;
  listener: EventListener;
  services: ServiceCache;
  pool: WorkerPool | null;
  coordinator: GeneratorCoordinator;
  onDemand: OnDemand;
  /** Webhooks on registry failure, recovery and staleness (lib/alerts). */
  alerts: AlertService;
  /**
   * Config as code, again: applies a newly loaded config file's registries (SIGHUP). Validates
   * all of them first, so a bad file changes nothing (throws CONFIG_INVALID).
   */
  reloadRegistries(raw: unknown[]): Promise<{ created: string[]; updated: string[]; disabled: string[] }>;
  /** The config file's `alerts` section, again (SIGHUP). */
  reloadAlerts(alerts: AlertsConfig): Promise<void>;
  /** Stops claiming work, lets running tasks finish until the deadline, then hands the rest back. */
  stop(deadlineMs?: number): Promise<void>;
}

export interface StartMirrorOptions {
  /** Workers in this process (0: this process only serves and leads generators). */
  workers?: number;
  generatorTickMs?: number;
  leaseMs?: number;
  /** Where task outcomes, generator state, queue depth and store size are reported. */
  metrics?: FerryMetrics;
  /** How often upstream urls no request has checked lately are probed (url-probe.ts; 0: never). Default: the config's scheduler.urlProbeIntervalMs. */
  urlProbeIntervalMs?: number;
  /** Before the url probe's first round (default: one interval). */
  urlProbeFirstDelayMs?: number;
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
  const unmapped = runtime.config.source.importReport;
  if (unmapped?.length) log.warn({ unmapped }, "zot config: some settings could not be mapped (see `ferry config import-zot` for the full report)");
  await applyRegistryConfig(runtime.db, registries, log);
  const sql = sqlFromPrisma(runtime.db);
  const listener = new EventListener(runtime.databaseUrl, log);
  await listener.start();
  const { key } = loadSecretKey({ configured: runtime.config.auth.secretKey, dataDir: runtime.config.paths.dataDir, warn: (m) => log.warn(m) });
  const fileCredentials = new Map(registries.filter((r) => r.parsed.credentials).map((r) => [r.parsed.name, r.parsed.credentials]));
  const services = new ServiceCache({
    db: runtime.db,
    store: runtime.store,
    log,
    decodeSecret: (secret, registryId) => ({ ...openJson<RegistrySecret>(key, secret, registrySecretAad(registryId)) }),
    fileCredentials,
    events: listener,
  });
  const instrumented = options.metrics ? instrumentMirror(options.metrics, { sql, store: runtime.store, services, log }) : null;
  const handler = createTaskHandler(services);
  const workers = options.workers ?? runtime.config.server.workers ?? defaultWorkers();
  const pool =
    workers > 0
      ? new WorkerPool({
          sql,
          log,
          // Every log line written while a task runs carries its id.
          handler: (task, ctx) => withLogContext({ taskId: task.id }, () => handler(task, ctx)),
          ...(instrumented ? { onTaskEnd: instrumented.onTaskEnd } : {}),
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
  // History retention: any process may prune (the DELETE is idempotent); hourly is plenty.
  const prune = () =>
    pruneHistory(sql, runtime.config.scheduler.historyRetentionDays).then(
      (n) => n > 0 && log.info({ deleted: n }, "pruned task history"),
      (err: unknown) => log.warn({ err }, "pruning task history failed"),
    );
  const pruner = setInterval(prune, 3_600_000);
  pruner.unref();
  void prune();
  const onDemand = new OnDemand({ sql, store: runtime.store, services, listener, log });
  const alerts = new AlertService({
    db: runtime.db,
    sql,
    log: runtime.log.child({ component: "alerts" }),
    config: runtime.config.alerts,
    listener,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    registries: async () => (await services.all()).filter((e) => e.enabled).map((e) => ({ id: e.id, name: e.name, periodic: Boolean(e.config.pollIntervalMs) })),
  });
  await alerts.start();
  const urlHealth = recordUrlHealth({ sql, log, upstreamUrls: async () => (await services.all()).flatMap((e) => e.config.urls) });
  const probeIntervalMs = options.urlProbeIntervalMs ?? runtime.config.scheduler.urlProbeIntervalMs;
  const urlProbe =
    probeIntervalMs > 0
      ? startUrlProbe({ sql, log, registries: () => services.all(), intervalMs: probeIntervalMs, ...(options.urlProbeFirstDelayMs !== undefined ? { firstDelayMs: options.urlProbeFirstDelayMs } : {}) })
      : null;
  log.info({ workers, registries: registries.length }, "mirror started");

  let stopped: Promise<void> | null = null;
  return {
    sql,
    listener,
    services,
    pool,
    coordinator,
    onDemand,
    alerts,
    reloadAlerts: (config) => alerts.reload(config),
    reloadRegistries: async (raw) => {
      const next = parseConfiguredRegistries(raw);
      const result = await applyRegistryConfig(runtime.db, next, log);
      fileCredentials.clear();
      for (const r of next) if (r.parsed.credentials) fileCredentials.set(r.parsed.name, r.parsed.credentials);
      services.invalidate();
      return result;
    },
    stop: (deadlineMs = 10_000) =>
      (stopped ??= (async () => {
        instrumented?.stop();
        // Alerts first: they read the database and the services until they stop.
        await alerts.stop();
        // Before the recorder, so that it still writes what the last probes saw.
        await urlProbe?.stop();
        await urlHealth.stop();
        clearInterval(pruner);
        await coordinator.stop();
        await pool?.stop(deadlineMs);
        await listener.close();
        await services.close();
      })()),
  };
}
