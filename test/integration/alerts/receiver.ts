/**
 * A webhook receiver for tests: a node:http server on loopback that records every request (path,
 * headers, raw body) and answers with what `answer` says (200 by default).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  status: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Status to answer for this request (called before answering); default 200. */
  answer: (path: string, nth: number) => number;
  on(path: string): Received[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const counts = new Map<string, number>();
  const r: Receiver = {
    url: "",
    received: [],
    answer: () => 200,
    on: (p) => r.received.filter((x) => x.path === p),
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const nth = (counts.get(path) ?? 0) + 1;
      counts.set(path, nth);
      const status = r.answer(path, nth);
      const body = Buffer.concat(chunks).toString("utf8");
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // recorded as is
      }
      r.received.push({ path, headers: req.headers, body, json, status });
      // A redirect points at /elsewhere on this server: a request there would mean it was followed.
      res.writeHead(status, { "content-type": "text/plain", ...(status >= 300 && status < 400 ? { location: `${r.url}/elsewhere` } : {}) });
      res.end(status < 300 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  r.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return r;
}
