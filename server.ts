/**
 * `npm start`: Ferry's process entry. Order matters:
 *   1. configuration (a bad value exits 2 with one line, before anything slow happens);
 *   2. a production build of the dashboard when missing or older than the sources;
 *   3. the database (embedded Postgres unless DATABASE_URL) and migrations;
 *   4. one HTTP server: `/v2` (OCI pulls), `/metrics`, the control API (`/api/v1`, `/api/graphql`)
 *      straight to their fetch handlers, everything else (pages) to Next.js.
 * SIGINT/SIGTERM close the HTTP server, let running sync tasks finish (up to 10 s; the rest go back
 * to the queue), then close the database clients, then the embedded Postgres.
 */
import http from "node:http";
import next from "next";
import { loadConfig, type ResolvedConfig } from "./lib/config";
import { isAppError } from "./lib/errors";
import { createLogger, createMetrics, metricsHandler, requestIdFrom, withLogContext } from "./lib/observability";
import { createV2Handler, PullAuth } from "./lib/distribution";
import { handleGraphQL, handleGraphQLStream } from "./graphql/http";
import { getApiEnv, handleRest } from "./lib/api";
import { serveFetch } from "./lib/http/serve-fetch";
import { turnBudget } from "./lib/http/turn-budget";
import { installConfigReload, parseConfiguredRegistries, startMirror, type Mirror } from "./lib/mirror";
import { boot, setRuntime, type Runtime } from "./lib/runtime";
import { closeProcessEvents } from "./lib/scheduler";
import { loadSecretKey } from "./lib/secrets";
import { ensureBuilt } from "./scripts/build-if-needed";

const dev = process.argv.includes("--dev");
/** Skip the freshness check (tests build once up front; containers ship a finished build). */
const noBuild = process.argv.includes("--no-build");

async function main(): Promise<void> {
  let config: ResolvedConfig;
  try {
    config = loadConfig();
    parseConfiguredRegistries(config.registries); // a bad registry entry is a config error too
  } catch (err) {
    if (isAppError(err) && err.code === "CONFIG_INVALID") {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, ...(config.logFormat ? { format: config.logFormat } : {}) });
  if (!dev && !noBuild) await ensureBuilt(process.cwd(), (msg) => log.info(msg));

  const runtimePromise = boot({ config, log });
  setRuntime(runtimePromise);
  const runtime = await runtimePromise;
  const metrics = createMetrics({ onCollectorError: (name, err) => log.warn({ err, collector: name }, "metrics collector failed") });
  const mirror = await startMirror(runtime, { metrics });
  const serveMetrics = metricsHandler(metrics);
  // The API's environment now rather than on the first call: its caches' LISTEN connection is up
  // before traffic comes (a failure here is retried by the first API call).
  await getApiEnv().catch((err: unknown) => log.warn({ err }, "API environment not ready yet"));

  const app = next({ dev, dir: process.cwd(), hostname: config.server.host, port: config.server.port });
  await app.prepare();
  const handle = app.getRequestHandler();
  // The OCI pull API is served here, in front of Next (see lib/distribution/handler.ts for why).
  const v2 = createV2Handler({
    store: runtime.store,
    log: log.child({ component: "v2" }),
    onDemand: mirror.onDemand, metrics,
    ...(config.pullAuth.enabled
      ? {
          pullAuth: new PullAuth({
            db: runtime.db,
            secretKey: loadSecretKey({ configured: config.auth.secretKey, dataDir: config.paths.dataDir }).key,
            anonymous: config.pullAuth.anonymous,
            tokenTtlSeconds: config.pullAuth.tokenTtlSeconds,
          }),
        }
      : {}),
  });
  const api = apiRouter();
  const admitApi = turnBudget();
  const server = http.createServer((req, res) => {
    // The audit log's "from where": the socket's address, overwriting anything a client sent.
    req.headers["x-ferry-remote-addr"] = req.socket.remoteAddress ?? "";
    const path = req.url ?? "/";
    // A request id for the logs of this request (the caller's x-request-id when sane), echoed back.
    const reqId = requestIdFrom(req.headers["x-request-id"]);
    req.headers["x-request-id"] = reqId;
    res.setHeader("x-request-id", reqId);
    const serve = (handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) => {
      withLogContext({ reqId }, () => handler(req, res)).catch((err: unknown) => {
        log.error({ err }, "request failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "INTERNAL", message: "Internal error" }));
      });
    };
    if (path === "/v2" || path.startsWith("/v2/") || path.startsWith("/v2?")) return serve(v2);
    if (path === "/metrics" || path.startsWith("/metrics?")) return serve(serveMetrics);
    const apiHandler = api(path);
    // API calls take turns with the background work of this process (lib/http/turn-budget.ts).
    if (apiHandler) return admitApi(() => serve(apiHandler));
    return serve(handle);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.server.port, config.server.host, resolve);
  });
  log.info({ url: `http://localhost:${config.server.port}`, database: runtime.embedded ? "embedded" : "external" }, "ferry is up");
  installShutdown(server, runtime, mirror, app);
  installConfigReload(mirror, log); // SIGHUP: re-read the config file, re-apply its registries
}

/**
 * The control API bypasses Next: the same fetch handlers the app/api routes export, called
 * directly (Next's routing was most of the CPU of a small API call). Paths with a trailing slash
 * are left to Next, which redirects them as before.
 */
function apiRouter(): (path: string) => ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) | null {
  const rest = serveFetch(handleRest);
  const graphql = serveFetch(handleGraphQL);
  const stream = serveFetch(handleGraphQLStream);
  return (path) => {
    const q = path.indexOf("?");
    const p = q >= 0 ? path.slice(0, q) : path;
    if (p === "/api/graphql") return graphql;
    if (p === "/api/graphql/stream") return stream;
    if (p === "/api/v1" || (p.startsWith("/api/v1/") && !p.endsWith("/"))) return rest;
    return null;
  };
}

function installShutdown(server: http.Server, runtime: Runtime, mirror: Mirror, app: { close?: () => Promise<void> }): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    runtime.log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.close();
    server.closeIdleConnections();
    await mirror.stop(10_000).catch((err: unknown) => runtime.log.warn({ err }, "stopping the mirror failed"));
    await app.close?.().catch(() => {});
    await closeProcessEvents();
    await runtime.shutdown();
    runtime.log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err: unknown) => {
  process.stderr.write(`ferry: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.FERRY_DEBUG) console.error(err);
  process.exit(1);
});
