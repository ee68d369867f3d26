/**
 * Feeds Ferry's metrics from the mirror: task ends from the worker pool (this process's work),
 * and scrape-time state from the shared database (generators, queue, freshness) and the store.
 */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { observeUpstreamRequests, type FerryMetrics, type Logger } from "../observability";
import { generatorSnapshot, type Sql, type TaskEnd, type TaskRecord } from "../scheduler";
import type { Store } from "../store";
import type { ServiceCache } from "./services";

const PHASES = ["idle", "listing", "syncing", "backing-off", "waiting", "paused"] as const;

export interface MirrorMetricsOptions {
  sql: Sql;
  store: Store;
  services: ServiceCache;
  log: Logger;
  /** How long a store size measurement is reused (walking the pool costs a stat per blob). */
  storeSizeTtlMs?: number;
}

/** Registers the collectors; returns the worker pool's task-end observer and a stop function. */
export function instrumentMirror(metrics: FerryMetrics, o: MirrorMetricsOptions): { onTaskEnd: (task: TaskRecord, end: TaskEnd) => void; stop: () => void } {
  // Upstream origins of the configured registries, refreshed at each scrape and at each task end.
  let upstreams = new Map<string, string>();
  const refreshUpstreams = async () => {
    const next = new Map<string, string>();
    for (const e of await o.services.all()) for (const u of e.config.urls) next.set(new URL(u).origin, new URL(u).host);
    upstreams = next;
  };
  void refreshUpstreams().catch(() => {});
  const unsubscribe = observeUpstreamRequests(metrics, (origin) => upstreams.get(origin) ?? null);

  metrics.addCollector("scheduler", async () => {
    await refreshUpstreams();
    const entries = await o.services.all();
    const snapshot = await generatorSnapshot(o.sql);
    const rows = await o.sql.query<{ name: string; enabled: boolean; created_at: Date; queued: number; running: number; last_success: Date | null }>(
      `SELECT r.name, r.enabled, r.created_at,
              (SELECT count(*)::int FROM task t WHERE t.registry_id = r.id AND t.status IN ('queued', 'retrying')) AS queued,
              (SELECT count(*)::int FROM task t WHERE t.registry_id = r.id AND t.status = 'running') AS running,
              (SELECT t.finished_at FROM task t WHERE t.registry_id = r.id AND t.status = 'succeeded' ORDER BY t.queued_at DESC LIMIT 1) AS last_success
         FROM registry r`,
    );
    const now = Date.now();
    for (const g of [metrics.generatorPhase, metrics.generatorRound, metrics.roundDuration, metrics.generatorBackoff, metrics.lastSuccess, metrics.secondsSinceSuccess, metrics.registryEnabled, metrics.queueDepth, metrics.runningTasks, metrics.pollInterval]) g.reset();
    for (const e of entries) metrics.pollInterval.set({ registry: e.name }, (e.config.pollIntervalMs ?? 0) / 1000);
    for (const g of snapshot) {
      const registry = g.registryName;
      for (const p of PHASES) metrics.generatorPhase.set({ registry, phase: p }, g.phase === p ? 1 : 0);
      metrics.generatorRound.set({ registry }, g.round);
      if (g.roundStartedAt) {
        const end = g.roundEndedAt && g.roundEndedAt >= g.roundStartedAt ? g.roundEndedAt.getTime() : now;
        metrics.roundDuration.set({ registry }, (end - g.roundStartedAt.getTime()) / 1000);
      }
      metrics.generatorBackoff.set({ registry }, g.phase === "backing-off" ? g.waitTimeMs / 1000 : 0);
    }
    for (const r of rows) {
      const registry = r.name;
      metrics.registryEnabled.set({ registry }, r.enabled ? 1 : 0);
      metrics.queueDepth.set({ registry }, r.queued);
      metrics.runningTasks.set({ registry }, r.running);
      // Never succeeded: stale since the registry was created, so a freshness alert also
      // catches a registry that has not worked once.
      const since = r.last_success ? new Date(r.last_success).getTime() : new Date(r.created_at).getTime();
      if (r.last_success) metrics.lastSuccess.set({ registry }, new Date(r.last_success).getTime() / 1000);
      metrics.secondsSinceSuccess.set({ registry }, Math.max(0, (now - since) / 1000));
    }
  });

  const ttl = o.storeSizeTtlMs ?? 60_000;
  let measured: { at: number; bytes: number; blobs: number } | null = null;
  let measuring: Promise<void> | null = null;
  const measure = () =>
    (measuring ??= poolSize(o.store.root)
      .then((s) => void (measured = { at: Date.now(), ...s }))
      .finally(() => (measuring = null)));
  metrics.addCollector("store", async () => {
    // A stale measurement is redone, waiting for it at most a couple of seconds (a huge pool
    // finishes in the background and the next scrape gets it).
    if (!measured || Date.now() - measured.at > ttl) {
      const m = measure();
      await Promise.race([m, new Promise((r) => setTimeout(r, 2000).unref())]);
      m.catch((err: unknown) => o.log.warn({ err }, "measuring the store failed"));
    }
    if (measured) {
      metrics.storeBytes.set(measured.bytes);
      metrics.storeBlobs.set(measured.blobs);
    }
  });

  const onTaskEnd = (task: TaskRecord, end: TaskEnd) => {
    const registry = (task.registryId && o.services.nameOf(task.registryId)) || "-";
    metrics.tasks.inc({ registry, kind: task.kind, outcome: end.outcome });
    metrics.taskDuration.observe({ registry, kind: task.kind }, end.durationMs / 1000);
    const r = end.result;
    // New content: the next scrape measures the store again.
    if (r?.bytesCopied && measured) measured.at = 0;
    if (r?.bytesCopied) metrics.bytesSynced.inc({ registry }, r.bytesCopied);
    if (r?.blobsCopied) metrics.blobsCopied.inc({ registry }, r.blobsCopied);
    if (r?.blobsSkipped) metrics.blobsSkipped.inc({ registry }, r.blobsSkipped);
    for (const outcome of r?.outcomes ?? []) metrics.images.inc({ registry, result: outcome.status });
  };
  return { onTaskEnd, stop: unsubscribe };
}

/** Bytes and count of the blob pool (`<root>/blobs/<alg>/<hex>`): each distinct blob once. */
async function poolSize(root: string): Promise<{ bytes: number; blobs: number }> {
  let bytes = 0;
  let blobs = 0;
  const pool = path.join(root, "blobs");
  const algs = await readdir(pool).catch(() => [] as string[]);
  for (const alg of algs) {
    const names = await readdir(path.join(pool, alg)).catch(() => [] as string[]);
    for (let i = 0; i < names.length; i += 64) {
      const sizes = await Promise.all(names.slice(i, i + 64).map((n) => stat(path.join(pool, alg, n)).then((s) => (s.isFile() ? s.size : -1), () => -1)));
      for (const s of sizes) {
        if (s < 0) continue;
        bytes += s;
        blobs++;
      }
    }
  }
  return { bytes, blobs };
}
