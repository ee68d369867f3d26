/**
 * lib/http/serve-fetch: fetch handlers on a real node:http server on loopback (how server.ts
 * serves the control API without Next).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveFetch, type FetchHandler } from "../../../lib/http/serve-fetch";

describe("serveFetch", () => {
  let server: http.Server;
  let url: string;
  let handler: FetchHandler = async () => new Response("unset");
  const agent = new Agent({ connections: 1 });

  beforeAll(async () => {
    const serve = serveFetch((req) => handler(req));
    server = http.createServer((req, res) => {
      req.headers["x-ferry-remote-addr"] = "from-the-socket"; // as server.ts does
      void serve(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await agent.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("passes method, path, headers (as the server left them) and body through, and every Set-Cookie back", async () => {
    handler = async (req) => {
      const headers = new Headers({ "content-type": "application/json", "x-seen": `${req.method} ${new URL(req.url).pathname}${new URL(req.url).search}` });
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; Path=/");
      return new Response(JSON.stringify({ auth: req.headers.get("authorization"), from: req.headers.get("x-ferry-remote-addr"), body: await req.text() }), { status: 201, headers });
    };
    const res = await request(`${url}/api/v1/things?x=1`, {
      method: "POST",
      headers: { authorization: "Bearer t", "x-ferry-remote-addr": "spoofed" },
      body: "hello",
      dispatcher: agent,
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers["x-seen"]).toBe("POST /api/v1/things?x=1");
    expect(res.headers["set-cookie"]).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    // What the server set wins over what the client sent.
    expect(await res.body.json()).toEqual({ auth: "Bearer t", from: "from-the-socket", body: "hello" });
  });

  it("answers a request whose Host header cannot be part of a URL", async () => {
    handler = async (req) => new Response(new URL(req.url).pathname);
    const res = await request(`${url}/api/v1/registries`, { headers: { host: "bad host" }, dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("/api/v1/registries");
  });

  it("answers a large body it does not read, and the connection stays usable", async () => {
    handler = async (req) => (req.method === "POST" ? new Response("too large", { status: 413 }) : new Response("next"));
    const big = Buffer.alloc(8 * 1024 * 1024, 120);
    const res = await request(url, { method: "POST", body: big, dispatcher: agent });
    expect(res.statusCode).toBe(413);
    expect(await res.body.text()).toBe("too large");
    const again = await request(url, { dispatcher: agent });
    expect(await again.body.text()).toBe("next");
  });

  it("streams a response as it is produced, and aborts the request when the client leaves", async () => {
    let aborted: () => void = () => {};
    const abortedP = new Promise<void>((resolve) => (aborted = resolve));
    let release: () => void = () => {};
    const hold = new Promise<void>((resolve) => (release = resolve));
    handler = async (req) => {
      req.signal.addEventListener("abort", () => aborted());
      return new Response(
        new ReadableStream({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode("event: one\n\n"));
            await hold;
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    };
    const controller = new AbortController();
    const res = await fetch(`${url}/stream`, { signal: controller.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("event: one\n\n");
    controller.abort();
    await abortedP;
    release();
  });
});
