/**
 * A counting pass-through proxy for a test registry: counts requests by kind (blob GETs,
 * manifest GETs and HEADs) so tests can prove what an unchanged image costs.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Counts {
  total: number;
  blobGets: number;
  manifestGets: number;
  manifestHeads: number;
}

export interface CountingProxy {
  url: string;
  counts: Counts;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const counts: Counts = { total: 0, blobGets: 0, manifestGets: 0, manifestHeads: 0 };
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    counts.total++;
    const path = req.url ?? "/";
    if (req.method === "GET" && /\/blobs\/sha256:/.test(path)) counts.blobGets++;
    if (/\/manifests\//.test(path)) {
      if (req.method === "GET") counts.manifestGets++;
      if (req.method === "HEAD") counts.manifestHeads++;
    }
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, path, method: req.method, headers: { ...req.headers, host: upstream.host }, agent },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    reset: () => Object.assign(counts, { total: 0, blobGets: 0, manifestGets: 0, manifestHeads: 0 }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
