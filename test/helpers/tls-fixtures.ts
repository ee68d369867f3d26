import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "tls");
const read = (name: string) => readFileSync(path.join(dir, name), "utf8");

/** A test CA certificate and a client certificate + key it signed (see test/fixtures/tls/README.md). */
export const TLS = {
  caCert: read("ca.pem"),
  clientCert: read("client.pem"),
  clientKey: read("client-key.pem"),
};

/** A server certificate + key for 127.0.0.1 and localhost, signed by `TLS.caCert`. */
export const SERVER_TLS = {
  cert: read("server.pem"),
  key: read("server-key.pem"),
};

/** An https:// server in front of a plain-HTTP registry, with our server certificate. */
export interface TlsFront {
  /** e.g. https://127.0.0.1:5123 */
  url: string;
  /** HTTP requests that reached the front (after a completed handshake). */
  requests: number;
  /** Subject CN of the client certificate of each request, when one was given. */
  clientNames: string[];
  /** Codes of handshakes the server refused (e.g. a missing client certificate). */
  handshakeErrors: string[];
  close(): Promise<void>;
}

/**
 * Starts a TLS-terminating reverse proxy on 127.0.0.1 in front of `target` (the real
 * docker-registry speaks plain HTTP in tests). With `mtls`, it asks for a client certificate and
 * refuses the handshake without one signed by the test CA, like a registry behind nginx with
 * `ssl_verify_client on`.
 */
export async function startTlsFront(target: string, opts: { mtls?: boolean } = {}): Promise<TlsFront> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const front: TlsFront = { url: "", requests: 0, clientNames: [], handshakeErrors: [], close: async () => {} };
  const server = https.createServer(
    { ...SERVER_TLS, ...(opts.mtls ? { ca: TLS.caCert, requestCert: true, rejectUnauthorized: true } : {}) },
    (req, res) => {
      front.requests++;
      const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
      if (cn) front.clientNames.push(String(cn));
      const up = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    },
  );
  server.on("tlsClientError", (err: NodeJS.ErrnoException) => front.handshakeErrors.push(err.code ?? err.message));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  front.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  front.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    agent.destroy();
  };
  return front;
}
