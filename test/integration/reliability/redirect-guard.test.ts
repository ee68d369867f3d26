/**
 * lib/oci/redirect-guard.ts on real sockets: an undici Agent with the guarded connector, a
 * node:http server on 127.0.0.1, and a resolver the test controls (names → addresses), so the
 * name-based paths — a name resolving into another address class, a mixed answer, a name that
 * rebinds between connections — are exercised without touching real DNS. Refused connections
 * are refused before any packet: the addresses are never contacted.
 */
import http from "node:http";
import type { LookupAddress } from "node:dns";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressClass, createConnectGuard, guardedConnector } from "../../../lib/oci/redirect-guard";

describe("address classes", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["0.0.0.0", "loopback"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["::", "loopback"],
    ["169.254.169.254", "link-local"],
    ["fe80::1", "link-local"],
    ["::ffff:169.254.169.254", "link-local"],
    ["::ffff:a9fe:a9fe", "link-local"],
    ["::ffff:7f00:1", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["fd00::1", "private"],
    ["fc00::1", "private"],
    ["172.32.0.1", "public"],
    ["8.8.8.8", "public"],
    ["2001:4860:4860::8888", "public"],
  ])("%s is %s", (ip, cls) => {
    expect(addressClass(ip)).toBe(cls);
  });
});

describe("guarded connector", () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;
  const agents: Agent[] = [];
  /** name → answers, one per resolution (the last repeats). */
  const dns = new Map<string, string[][]>();
  const resolved = new Map<string, number>();
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    const answers = dns.get(hostname);
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    const n = resolved.get(hostname) ?? 0;
    resolved.set(hostname, n + 1);
    return answers[Math.min(n, answers.length - 1)]!.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  const agentFor = (registry: string) => {
    const a = new Agent({ connect: guardedConnector(new URL(registry), { timeout: 2000 }, resolve) });
    agents.push(a);
    return a;
  };
  const get = async (agent: Agent, url: string) => {
    try {
      const r = await agent.request({ origin: new URL(url).origin, path: "/v2/", method: "GET", headers: { connection: "close" } });
      await r.body.text();
      return { status: r.statusCode };
    } catch (err) {
      return { code: (err as { code?: string }).code, message: (err as Error).message };
    }
  };

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.writeHead(200, { connection: "close" }).end("{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
    dns.set("registry.test", [["127.0.0.1"]]);
    dns.set("cdn.test", [["127.0.0.1"]]);
    dns.set("metadata.test", [["169.254.169.254"]]);
    dns.set("private.test", [["10.1.2.3"]]);
    dns.set("mixed.test", [["127.0.0.1", "169.254.169.254"]]);
    dns.set("rebind.test", [["127.0.0.1"], ["169.254.169.254"]]);
    dns.set("public.test", [["203.0.113.7"]]);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("allows the registry's own host and same-class names, refuses other internal classes by resolved address", async () => {
    const a = agentFor(`http://registry.test:${port}`);
    expect(await get(a, `http://registry.test:${port}/`)).toEqual({ status: 200 });
    expect(await get(a, `http://cdn.test:${port}/`)).toEqual({ status: 200 });
    expect(hits).toBe(2);
    for (const host of ["metadata.test", "private.test", "mixed.test"]) {
      const r = await get(a, `http://${host}:${port}/`);
      expect(r, host).toMatchObject({ code: "ADDRESS_REFUSED" });
    }
    expect((await get(a, `http://169.254.169.254:${port}/`)) as { message: string }).toMatchObject({ code: "ADDRESS_REFUSED", message: expect.stringMatching(/link-local/) });
    expect(await get(a, `http://[fd00::1]:${port}/`)).toMatchObject({ code: "ADDRESS_REFUSED" });
    expect(hits).toBe(2);
  });

  it("fails a request whose TLS options tls.connect rejects instead of leaving it pending forever", async () => {
    // Malformed key material throws synchronously inside tls.connect; before the fix the IP-literal
    // path swallowed that throw and the request never settled (and a generator awaiting it hung).
    const badKey = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    for (const host of ["127.0.0.1", "registry.test"]) {
      const a = new Agent({ connect: guardedConnector(new URL(`https://${host}:${port}`), { timeout: 2000, key: badKey, cert: badKey } as never, resolve) });
      agents.push(a);
      const r = await Promise.race([get(a, `https://${host}:${port}/`), new Promise((res) => setTimeout(() => res("pending"), 5000).unref())]);
      expect(r, host).toMatchObject({ message: expect.any(String) });
    }
  });

  it("checks every connection at connect time: a name that rebinds to the metadata address is refused", async () => {
    const a = agentFor(`http://registry.test:${port}`);
    const before = hits;
    expect(await get(a, `http://rebind.test:${port}/`)).toEqual({ status: 200 });
    // The server closed that connection; the next one resolves again and gets the other answer.
    expect(await get(a, `http://rebind.test:${port}/`)).toMatchObject({ code: "ADDRESS_REFUSED" });
    expect(hits).toBe(before + 1);
  });

  it("gives a public registry nothing internal, not even loopback, but its own host always", async () => {
    const a = agentFor("https://public.test");
    expect(await get(a, `http://cdn.test:${port}/`)).toMatchObject({ code: "ADDRESS_REFUSED" });
    expect(await get(a, `http://127.0.0.1:${port}/`)).toMatchObject({ code: "ADDRESS_REFUSED" });
    // A registry configured on an internal address itself is the operator's choice.
    const own = agentFor(`http://127.0.0.1:${port}`);
    expect(await get(own, `http://127.0.0.1:${port}/`)).toEqual({ status: 200 });
    expect(await get(own, `http://10.0.0.1:${port}/`)).toMatchObject({ code: "ADDRESS_REFUSED" });
  });

  it("treats every private range as one class: a registry on 10/8 may redirect to 192.168/16", async () => {
    // No connection is made: the refusal would come before it, and an allowed one would time out
    // or fail on the network, which is a different code.
    const a = agentFor("http://10.0.0.5:5000");
    dns.set("blobs.lan", [["127.0.0.1"]]);
    expect(await get(a, `http://blobs.lan:${port}/`)).toMatchObject({ code: "ADDRESS_REFUSED" });
    const guard = createConnectGuard(new URL("http://10.0.0.5:5000"), resolve);
    expect(await guard.check("blobs.internal", ["192.168.7.7"])).toBeNull();
    expect(await guard.check("fd.internal", ["fd12::7"])).toBeNull();
    expect((await guard.check("meta", ["169.254.169.254"]))?.code).toBe("ADDRESS_REFUSED");
    expect((await guard.check("lo", ["127.0.0.1"]))?.code).toBe("ADDRESS_REFUSED");
  });
});
