import { readFileSync } from "node:fs";
import path from "node:path";
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
