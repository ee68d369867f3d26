/**
 * A pass-through proxy in front of a test registry that counts requests by method and path and
 * can slow down or break chosen requests. Tests use it to prove how many upstream calls Ferry
 * made and to hold a sync in flight at a known point.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface UpstreamProxy {
  url: string;
  /** `GET /v2/repo/blobs/sha256:...` → count. */
  hits: Map<string, number>;
  count(method: string, pattern: RegExp): number;
  /** Delay (ms) to add before answering a request; 0 for none. */
  delay: (method: string, path: string) => number;
  /** When set, every request is answered with this status (e.g. 503) instead of proxied. */
  failWith: number | null;
  /** Added to every answer, proxied or injected (e.g. a `RateLimit-Remaining` docker-registry never sends). */
  headers: Record<string, string>;
  reset(): void;
  close(): Promise<void>;
}

export async function startUpstreamProxy(target: string): Promise<UpstreamProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const timers = new Set<NodeJS.Timeout>();
  const proxy: UpstreamProxy = {
    url: "",
    hits: new Map(),
    delay: () => 0,
    failWith: null,
    headers: {},
    count(method, pattern) {
      let n = 0;
      for (const [k, v] of this.hits) if (k.startsWith(`${method} `) && pattern.test(k.slice(method.length + 1))) n += v;
      return n;
    },
    reset() {
      this.hits.clear();
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    const key = `${req.method} ${path.split("?")[0]}`;
    proxy.hits.set(key, (proxy.hits.get(key) ?? 0) + 1);
    const forward = () => {
      if (proxy.failWith !== null) {
        res.writeHead(proxy.failWith, { "content-type": "application/json", ...proxy.headers });
        res.end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "injected failure" }] }));
        return;
      }
      const up = http.request(
        { host: upstream.hostname, port: upstream.port, path, method: req.method, headers: { ...req.headers, host: upstream.host }, agent },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, { ...ur.headers, ...proxy.headers });
          ur.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    };
    const ms = proxy.delay(req.method ?? "GET", path);
    if (ms > 0) {
      const t = setTimeout(() => {
        timers.delete(t);
        forward();
      }, ms);
      timers.add(t);
    } else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    timers.forEach((t) => clearTimeout(t));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    agent.destroy();
  };
  return proxy;
}
