/**
 * The client's transport (lib/oci/dispatcher.ts) against a real docker-registry behind a
 * TLS-terminating front (test/helpers/tls-fixtures.ts): server verification, custom CA, mTLS,
 * `tlsVerify: false`, plain HTTP only for http:// URLs, and HTTPS_PROXY/HTTP_PROXY/NO_PROXY
 * through a small node:http proxy on loopback.
 */
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf, makeImage, redirectTo, startHostileRegistry, type HostileRegistry } from "../../helpers/hostile-registry";
import { pushImage, type PushedManifest } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startTlsFront, TLS, type TlsFront } from "../../helpers/tls-fixtures";
// After the helpers: imported first, lib/oci's undici 7 becomes the global dispatcher and Node 20's
// fetch (used by pushImage) then fails with "invalid content-length header".
import { RegistryClient, type OciError, type RegistryClientOptions } from "../../../lib/oci";

const REPO = "tls/app";
const noRetry = { maxRetries: 0, retryDelayMs: 10, maxRetryDelayMs: 10 };
// A line from the middle of the client key: nothing the client reports may contain it.
const KEY_LINE = TLS.clientKey.split("\n")[2]!;

const PROXY_VARS = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"] as const;

/**
 * Creates a client with exactly `vars` as the proxy environment and restores the environment at
 * once: the dispatcher reads it when it is created, never later.
 */
function clientWithEnv(vars: Partial<Record<(typeof PROXY_VARS)[number], string>>, options: RegistryClientOptions): RegistryClient {
  const saved = PROXY_VARS.map((k) => [k, process.env[k]] as const);
  try {
    for (const k of PROXY_VARS) delete process.env[k];
    Object.assign(process.env, vars);
    return new RegistryClient(options);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function failure(p: Promise<unknown>): Promise<OciError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as OciError,
  );
  if (!err) throw new Error("expected the request to fail");
  // Secrets stay out of whatever a caller might log.
  expect(`${err.message} ${String(err.stack)} ${JSON.stringify(err)}`).not.toContain(KEY_LINE);
  return err;
}

/** A forward proxy: CONNECT tunnels for https:// and absolute-URI requests for http://. */
interface ForwardProxy {
  url: string;
  connects: string[];
  forwarded: string[];
  close(): Promise<void>;
}

async function startForwardProxy(): Promise<ForwardProxy> {
  const sockets = new Set<Socket>();
  const p: ForwardProxy = { url: "", connects: [], forwarded: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    p.forwarded.push(`${req.method} ${req.url}`);
    const up = http.request(new URL(req.url!), { method: req.method, headers: req.headers, agent: false }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("connect", (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    p.connects.push(req.url!);
    const [host, port] = req.url!.split(":");
    const up = net.connect(Number(port), host!, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    up.on("close", () => sockets.delete(up));
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  p.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  p.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return p;
}

describe.skipIf(!registryAvailable())("RegistryClient transport: TLS, mTLS, plain HTTP and proxies", { timeout: 30_000 }, () => {
  let reg: TestRegistry;
  let tlsFront: TlsFront;
  let mtlsFront: TlsFront;
  let proxy: ForwardProxy;
  let image: PushedManifest;
  let hostile: HostileRegistry | undefined;
  const clients: RegistryClient[] = [];

  function client(options: RegistryClientOptions, env: Parameters<typeof clientWithEnv>[0] = {}): RegistryClient {
    const c = clientWithEnv(env, { retry: noRetry, timeouts: { connectMs: 5_000, headersMs: 10_000, bodyMs: 10_000 }, ...options });
    clients.push(c);
    return c;
  }

  /** Pulls the test image's manifest and first blob: proves a whole registry exchange worked. */
  async function pull(c: RegistryClient): Promise<void> {
    const m = await c.getManifest(REPO, "v1");
    expect(m.digest).toBe(image.digest);
    const blob = image.blobs[0]!;
    expect((await c.getBlobBytes(REPO, blob.digest)).length).toBe(blob.size);
  }

  beforeAll(async () => {
    reg = await startRegistry();
    image = await pushImage(reg, REPO, "v1");
    tlsFront = await startTlsFront(reg.url);
    mtlsFront = await startTlsFront(reg.url, { mtls: true });
    proxy = await startForwardProxy();
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await hostile?.close();
    await proxy?.close();
    await mtlsFront?.close();
    await tlsFront?.close();
    await reg?.stop();
  });

  describe("server verification", () => {
    it("refuses a certificate from an unknown CA by default, with a TLS error code", async () => {
      const before = tlsFront.requests;
      const err = await failure(client({ url: tlsFront.url }).ping());
      expect(err.code).toBe("TLS");
      expect(err.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
      expect(err.message).toMatch(/CA bundle/);
      expect(tlsFront.requests).toBe(before);
    });

    it("trusts the server with caCert and pulls an image", async () => {
      const c = client({ url: tlsFront.url, tls: { ca: TLS.caCert } });
      expect(await c.ping()).toMatchObject({ auth: "none" });
      await pull(c);
    });

    it("checks the host name against the certificate even with the right CA", async () => {
      // The certificate names 127.0.0.1 and localhost only.
      const err = await failure(client({ url: tlsFront.url, tls: { ca: TLS.caCert, servername: "registry.example" } }).ping());
      expect(err.code).toBe("TLS");
      expect(err.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    });

    it("connects without a CA when tlsVerify is off", async () => {
      await pull(client({ url: tlsFront.url, tls: { verify: false } }));
    });
  });

  describe("mutual TLS", () => {
    it("is refused without a client certificate, promptly (no hang)", async () => {
      const before = mtlsFront.requests;
      mtlsFront.handshakeErrors.length = 0;
      const err = await failure(client({ url: mtlsFront.url, tls: { ca: TLS.caCert } }).ping());
      // Under TLS 1.3 the client finishes its side of the handshake before the server checks the
      // certificate; node's server then drops the connection without an alert, so the client only
      // sees the socket close (a hang would be TIMEOUT after headersMs instead).
      expect(err.code).toBe("NETWORK");
      expect(err.message).toMatch(/UND_ERR_SOCKET/);
      expect(mtlsFront.handshakeErrors).toContain("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE");
      expect(mtlsFront.requests).toBe(before);
    });

    it("pulls with the client certificate, and the server sees its CN", async () => {
      const c = client({ url: mtlsFront.url, tls: { ca: TLS.caCert, cert: TLS.clientCert, key: TLS.clientKey } });
      mtlsFront.clientNames.length = 0;
      await pull(c);
      expect(mtlsFront.clientNames.length).toBeGreaterThan(0);
      expect(new Set(mtlsFront.clientNames)).toEqual(new Set(["ferry-test-client"]));
    });

    it("fails (never hangs) on a key that does not load, direct, through a proxy or bypassing it, keeping it out of the error", async () => {
      const bad = TLS.clientKey.replace(KEY_LINE, KEY_LINE.split("").reverse().join(""));
      const tls = { ca: TLS.caCert, cert: TLS.clientCert, key: bad };
      const envs = [{}, { HTTPS_PROXY: proxy.url }, { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" }];
      for (const env of envs) {
        // tls.connect throws synchronously on such a key; a throw lost inside undici would leave
        // the request pending, which the signal turns into ABORTED.
        const err = await failure(client({ url: mtlsFront.url, tls }, env).ping({ signal: AbortSignal.timeout(8_000) }));
        expect(err.code, JSON.stringify(env)).not.toBe("ABORTED");
        expect(err.message).not.toContain(bad.split("\n")[2]!);
      }
    });
  });

  describe("plain HTTP", () => {
    it("speaks plain HTTP to an explicit http:// URL", async () => {
      await pull(client({ url: reg.url }));
    });

    it("never downgrades an https:// URL to plain HTTP", async () => {
      // The registry itself speaks only HTTP: an https:// client must fail, not fall back.
      const err = await failure(client({ url: reg.url.replace("http://", "https://"), tls: { verify: false } }).ping());
      expect(["TLS", "NETWORK"]).toContain(err.code);
      expect(err.message).toMatch(/ERR_SSL|EPROTO|ECONNRESET/);
    });
  });

  describe("proxies from the environment", () => {
    it("tunnels https:// through HTTPS_PROXY with CONNECT, TLS (and mTLS) still end to end", async () => {
      proxy.connects.length = 0;
      await pull(client({ url: tlsFront.url, tls: { ca: TLS.caCert } }, { HTTPS_PROXY: proxy.url }));
      expect(proxy.connects).toContain(new URL(tlsFront.url).host);

      // The proxy only pipes bytes: verification and the client certificate are the client's.
      const err = await failure(client({ url: tlsFront.url }, { HTTPS_PROXY: proxy.url }).ping());
      expect(err.code).toBe("TLS");
      mtlsFront.clientNames.length = 0;
      await pull(client({ url: mtlsFront.url, tls: { ca: TLS.caCert, cert: TLS.clientCert, key: TLS.clientKey } }, { HTTPS_PROXY: proxy.url }));
      expect(proxy.connects).toContain(new URL(mtlsFront.url).host);
      expect(new Set(mtlsFront.clientNames)).toEqual(new Set(["ferry-test-client"]));
    });

    it("bypasses the proxy for hosts in NO_PROXY", async () => {
      proxy.connects.length = 0;
      proxy.forwarded.length = 0;
      await pull(client({ url: tlsFront.url, tls: { ca: TLS.caCert } }, { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" }));
      await pull(client({ url: reg.url }, { HTTP_PROXY: proxy.url, no_proxy: "localhost,127.0.0.1" }));
      expect(proxy.connects).toEqual([]);
      expect(proxy.forwarded).toEqual([]);
    });

    it("forwards http:// through HTTP_PROXY as absolute-URI requests", async () => {
      proxy.connects.length = 0;
      proxy.forwarded.length = 0;
      await pull(client({ url: reg.url }, { HTTP_PROXY: proxy.url }));
      expect(proxy.connects).toEqual([]);
      expect(proxy.forwarded).toContain(`GET ${reg.url}/v2/${REPO}/manifests/v1`);
    });

    it("follows an explicit proxy option and ignores the environment with proxy: false", async () => {
      proxy.connects.length = 0;
      await pull(client({ url: tlsFront.url, tls: { ca: TLS.caCert }, proxy: { httpsProxy: proxy.url } }));
      const tunnels = proxy.connects.length;
      expect(tunnels).toBeGreaterThan(0);
      await pull(client({ url: tlsFront.url, tls: { ca: TLS.caCert }, proxy: false }, { HTTPS_PROXY: proxy.url }));
      await pull(client({ url: tlsFront.url, tls: { ca: TLS.caCert }, proxy: { httpsProxy: proxy.url, noProxy: "127.0.0.1" } }));
      expect(proxy.connects).toHaveLength(tunnels);
    });

    it("keeps the address guard for NO_PROXY hosts, which connect directly", async () => {
      // A blob redirect to the metadata address, listed in NO_PROXY so nothing proxies it: the
      // direct connection must be refused before any packet, as without a proxy.
      const image = makeImage();
      hostile = await startHostileRegistry(image);
      hostile.answer = redirectTo("http://169.254.169.254/latest/meta-data/");
      proxy.forwarded.length = 0;
      const c = client({ url: hostile.url }, { HTTP_PROXY: proxy.url, NO_PROXY: "127.0.0.1,169.254.169.254" });
      const err = await failure(c.getBlobBytes("x/app", digestOf(image.layer)));
      expect(err.code).toBe("ADDRESS_REFUSED");
      expect(proxy.forwarded).toEqual([]);
    });

    it("reads the environment when the client is created, not later", async () => {
      proxy.connects.length = 0;
      const c = client({ url: tlsFront.url, tls: { ca: TLS.caCert } }); // created with no proxy set
      const saved = process.env.HTTPS_PROXY;
      process.env.HTTPS_PROXY = proxy.url;
      try {
        await pull(c);
      } finally {
        if (saved === undefined) delete process.env.HTTPS_PROXY;
        else process.env.HTTPS_PROXY = saved;
      }
      expect(proxy.connects).toEqual([]);
    });
  });
});
