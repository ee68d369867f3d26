/**
 * Ferry's Prometheus metrics: one prom-client Registry per process (not prom-client's global one,
 * so tests and several servers in one process do not mix their numbers).
 *
 * Two kinds of numbers live here:
 *   - events counted where they happen (tasks ending, bytes copied, /v2 requests, upstream
 *     requests): counters that belong to the process that did the work;
 *   - state read at scrape time (queue depth, generator phase, freshness, store size): gauges set
 *     by collectors registered with `addCollector`, run before each render. Those come from the
 *     shared database, so every process reports the same values: aggregate them with `max`.
 *
 * Labels are bounded by configuration, never by traffic: registry name, task kind, outcome,
 * status class, upstream host. No repository, tag or digest ever becomes a label.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** `2xx`, `4xx`…: the only form in which an HTTP status becomes a label. */
export function statusClass(status: number): string {
  if (!Number.isFinite(status) || status < 100 || status > 599) return "other";
  return `${Math.floor(status / 100)}xx`;
}

export type Collector = () => Promise<void> | void;

export interface FerryMetrics {
  readonly registry: Registry;
  /** Tasks that ended, by outcome: succeeded, failed, retrying (will run again), stopped (cancelled or handed back). */
  readonly tasks: Counter<"registry" | "kind" | "outcome">;
  readonly taskDuration: Histogram<"registry" | "kind">;
  /** Per-tag results of sync tasks: synced, unchanged, filtered, unsigned, failed. */
  readonly images: Counter<"registry" | "result">;
  readonly bytesSynced: Counter<"registry">;
  readonly blobsCopied: Counter<"registry">;
  /** Blobs not downloaded because the store already held them (dedupe). */
  readonly blobsSkipped: Counter<"registry">;
  readonly upstreamRequests: Counter<"upstream" | "status_class">;
  readonly upstreamRateLimitRemaining: Gauge<"upstream">;
  readonly generatorPhase: Gauge<"registry" | "phase">;
  readonly generatorRound: Gauge<"registry">;
  readonly roundDuration: Gauge<"registry">;
  readonly generatorBackoff: Gauge<"registry">;
  readonly lastSuccess: Gauge<"registry">;
  readonly secondsSinceSuccess: Gauge<"registry">;
  readonly registryEnabled: Gauge<"registry">;
  /** The registry's poll interval (0: on demand only), to scale freshness alerts per registry. */
  readonly pollInterval: Gauge<"registry">;
  readonly queueDepth: Gauge<"registry">;
  readonly runningTasks: Gauge<"registry">;
  readonly v2Requests: Counter<"route" | "method" | "status_class">;
  readonly v2Bytes: Counter<"route">;
  readonly v2Duration: Histogram<"route">;
  /** Manifest requests: hit (in the store), miss (fetched on demand), error (on-demand failed), unmapped (no registry maps the name). */
  readonly onDemand: Counter<"result">;
  readonly storeBytes: Gauge;
  readonly storeBlobs: Gauge;
  readonly collectorErrors: Counter<"collector">;
  addCollector(name: string, collect: Collector): void;
  /** Runs the collectors, then renders the text exposition format. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface CreateMetricsOptions {
  /** Node process metrics (CPU, memory, event loop lag) as `ferry_process_*`/`ferry_nodejs_*`. Default true. */
  processMetrics?: boolean;
  /** Logged when a collector fails (the scrape still answers with what it has). */
  onCollectorError?: (name: string, err: unknown) => void;
}

const SIZE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export function createMetrics(options: CreateMetricsOptions = {}): FerryMetrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "ferry_" });
  const r = [registry];
  const collectors: Array<{ name: string; collect: Collector }> = [];
  const collectorErrors = new Counter({ name: "ferry_metrics_collector_errors_total", help: "Scrape-time collectors that failed", labelNames: ["collector"] as const, registers: r });

  const m: FerryMetrics = {
    registry,
    contentType: registry.contentType,
    tasks: new Counter({ name: "ferry_tasks_total", help: "Sync tasks that ended in this process, by outcome", labelNames: ["registry", "kind", "outcome"] as const, registers: r }),
    taskDuration: new Histogram({ name: "ferry_task_duration_seconds", help: "Wall time of sync tasks run in this process", labelNames: ["registry", "kind"] as const, buckets: SIZE_BUCKETS, registers: r }),
    images: new Counter({ name: "ferry_images_total", help: "Per-tag results of sync tasks (synced, unchanged, filtered, unsigned, failed)", labelNames: ["registry", "result"] as const, registers: r }),
    bytesSynced: new Counter({ name: "ferry_synced_bytes_total", help: "Bytes copied from upstreams into the store", labelNames: ["registry"] as const, registers: r }),
    blobsCopied: new Counter({ name: "ferry_blobs_copied_total", help: "Blobs downloaded from upstreams", labelNames: ["registry"] as const, registers: r }),
    blobsSkipped: new Counter({ name: "ferry_blobs_skipped_total", help: "Blobs not downloaded because the store already had them (dedupe)", labelNames: ["registry"] as const, registers: r }),
    upstreamRequests: new Counter({ name: "ferry_upstream_requests_total", help: "HTTP requests to configured upstream registries (each retry counts), by status class", labelNames: ["upstream", "status_class"] as const, registers: r }),
    upstreamRateLimitRemaining: new Gauge({ name: "ferry_upstream_rate_limit_remaining", help: "Requests left in the upstream's rate-limit window, as its last response said", labelNames: ["upstream"] as const, registers: r }),
    generatorPhase: new Gauge({ name: "ferry_generator_phase", help: "1 for the phase each registry's generator is in (idle, listing, syncing, backing-off, waiting, paused)", labelNames: ["registry", "phase"] as const, registers: r }),
    generatorRound: new Gauge({ name: "ferry_generator_round", help: "The generator's current round number", labelNames: ["registry"] as const, registers: r }),
    roundDuration: new Gauge({ name: "ferry_generator_round_duration_seconds", help: "Duration of the last finished round (or of the running one so far)", labelNames: ["registry"] as const, registers: r }),
    generatorBackoff: new Gauge({ name: "ferry_generator_backoff_seconds", help: "Current catalog backoff wait (0 unless backing off)", labelNames: ["registry"] as const, registers: r }),
    lastSuccess: new Gauge({ name: "ferry_registry_last_success_timestamp_seconds", help: "When a task of this registry last succeeded (unix seconds)", labelNames: ["registry"] as const, registers: r }),
    secondsSinceSuccess: new Gauge({ name: "ferry_registry_seconds_since_last_success", help: "Freshness: seconds since a task of this registry last succeeded (+Inf when never)", labelNames: ["registry"] as const, registers: r }),
    registryEnabled: new Gauge({ name: "ferry_registry_enabled", help: "1 when the registry is enabled", labelNames: ["registry"] as const, registers: r }),
    pollInterval: new Gauge({ name: "ferry_registry_poll_interval_seconds", help: "Time between periodic rounds (0: on demand only)", labelNames: ["registry"] as const, registers: r }),
    queueDepth: new Gauge({ name: "ferry_queue_depth", help: "Tasks queued or waiting to retry", labelNames: ["registry"] as const, registers: r }),
    runningTasks: new Gauge({ name: "ferry_tasks_running", help: "Tasks running (in any process)", labelNames: ["registry"] as const, registers: r }),
    v2Requests: new Counter({ name: "ferry_v2_requests_total", help: "OCI pull API requests", labelNames: ["route", "method", "status_class"] as const, registers: r }),
    v2Bytes: new Counter({ name: "ferry_v2_served_bytes_total", help: "Bytes of manifests and blobs served over /v2", labelNames: ["route"] as const, registers: r }),
    v2Duration: new Histogram({ name: "ferry_v2_request_duration_seconds", help: "Time to answer /v2 requests (blobs: until the last byte)", labelNames: ["route"] as const, buckets: SIZE_BUCKETS, registers: r }),
    onDemand: new Counter({ name: "ferry_on_demand_total", help: "Manifest pulls: hit (stored), miss (fetched on demand), error, unmapped", labelNames: ["result"] as const, registers: r }),
    storeBytes: new Gauge({ name: "ferry_store_bytes", help: "Bytes in the store's blob pool (each distinct blob once)", registers: r }),
    storeBlobs: new Gauge({ name: "ferry_store_blobs", help: "Distinct blobs in the store", registers: r }),
    collectorErrors,
    addCollector(name, collect) {
      collectors.push({ name, collect });
    },
    async render() {
      await Promise.all(
        collectors.map(async (c) => {
          try {
            await c.collect();
          } catch (err) {
            collectorErrors.inc({ collector: c.name });
            options.onCollectorError?.(c.name, err);
          }
        }),
      );
      return registry.metrics();
    },
  };
  return m;
}

/** `GET /metrics` as a plain Node handler (served by server.ts in front of Next, and by workers). */
export function metricsHandler(metrics: FerryMetrics) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("method not allowed\n");
      return;
    }
    const body = await metrics.render();
    res.writeHead(200, { "content-type": metrics.contentType, "content-length": String(Buffer.byteLength(body)), "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

/**
 * Counts one `/v2` request when its response ends: status class, bytes (the Content-Length of a
 * complete GET; an aborted download counts as no bytes) and duration.
 */
export function observeV2Response(metrics: FerryMetrics, req: IncomingMessage, res: ServerResponse, route: string): void {
  const start = process.hrtime.bigint();
  const method = req.method === "HEAD" ? "HEAD" : req.method === "GET" ? "GET" : "other";
  let done = false;
  const end = (finished: boolean) => {
    if (done) return;
    done = true;
    metrics.v2Requests.inc({ route, method, status_class: statusClass(res.statusCode) });
    metrics.v2Duration.observe({ route }, Number(process.hrtime.bigint() - start) / 1e9);
    const length = Number(res.getHeader("content-length") ?? 0);
    if (finished && method === "GET" && res.statusCode < 300 && Number.isFinite(length)) metrics.v2Bytes.inc({ route }, length);
  };
  res.once("finish", () => end(true));
  res.once("close", () => end(false));
}
