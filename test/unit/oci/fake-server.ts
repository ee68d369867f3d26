/** A scripted node:http server on 127.0.0.1:0 for what a real registry won't do. */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeServer {
  url: string;
  origin: string;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

export async function fakeServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>): Promise<FakeServer> {
  const requests: FakeServer["requests"] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    origin: url,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function registryError(res: http.ServerResponse, status: number, code: string, headers: Record<string, string> = {}): void {
  json(res, status, { errors: [{ code, message: code.toLowerCase().replace(/_/g, " ") }] }, headers);
}
