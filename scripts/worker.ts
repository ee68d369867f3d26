/**
 * `npm run worker`: a headless Ferry process that runs sync tasks and takes part in generator
 * leadership, sharing the database and the store with the server(s). Scale out by starting more.
 * It needs DATABASE_URL (or the same embedded data directory as a running server, which it joins).
 */
import { loadConfig } from "../lib/config";
import { isAppError } from "../lib/errors";
import http from "node:http";
import { installConfigReload, parseConfiguredRegistries, startMirror } from "../lib/mirror";
import { createLogger, createMetrics, metricsHandler } from "../lib/observability";
import { boot } from "../lib/runtime";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    parseConfiguredRegistries(config.registries);
  } catch (err) {
    if (isAppError(err) && err.code === "CONFIG_INVALID") {
      process.stderr.write(`ferry worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, name: "ferry-worker", ...(config.logFormat ? { format: config.logFormat } : {}) });
  const runtime = await boot({ config, log });
  const metrics = createMetrics({ onCollectorError: (name, err) => log.warn({ err, collector: name }, "metrics collector failed") });
  const mirror = await startMirror(runtime, { metrics });
  // The tasks this worker runs are counted here: FERRY_METRICS_PORT exposes them to Prometheus.
  let metricsServer: http.Server | null = null;
  if (config.metrics.port) {
    const serve = metricsHandler(metrics);
    metricsServer = http.createServer((req, res) => {
      if ((req.url ?? "/").split("?")[0] !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      serve(req, res).catch(() => res.writeHead(500).end());
    });
    await new Promise<void>((resolve, reject) => metricsServer!.once("error", reject).listen(config.metrics.port, config.metrics.host, resolve));
  }
  installConfigReload(mirror, log);
  log.info({ pool: mirror.pool?.id, metricsPort: config.metrics.port }, "worker up");
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "worker shutting down");
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    metricsServer?.close();
    await mirror.stop(10_000);
    await runtime.shutdown();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err: unknown) => {
  process.stderr.write(`ferry worker: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
