/**
 * Serves a fetch-style handler (`Request` in, `Response` out) on a plain `node:http` server.
 *
 * Why: the control API (`/api/v1`, `/api/graphql`) is framework-free already (lib/api's router,
 * graphql/http.ts), and going through Next's router for every call cost most of a request's CPU
 * (route matching, its own web-stream plumbing, per-request tracing). Ferry's own HTTP server
 * (server.ts) hands these paths straight to the same handlers the Next routes export, so both
 * entries run one code path and Next only serves pages.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type FetchHandler = (request: Request) => Promise<Response>;

/**
 * The request body as a web stream, read only as the handler pulls. `detach()` stops feeding it:
 * whatever the handler did not read (a 413 answered from Content-Length) is then discarded as it
 * arrives, so the client can finish sending and read the answer on a connection that stays open.
 */
function bodyStream(req: IncomingMessage): { stream: ReadableStream<Uint8Array>; detach(): void } {
  let onData: ((chunk: Buffer) => void) | null = null;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      onData = (chunk) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      };
      req.on("data", onData);
      req.once("end", () => controller.close());
      req.once("error", (err) => controller.error(err));
      req.pause();
    },
    pull() {
      req.resume();
    },
    cancel() {
      detach();
    },
  });
  const detach = () => {
    if (onData) req.off("data", onData);
    onData = null;
    if (!req.complete) req.resume();
  };
  return { stream, detach };
}

/** The request's absolute URL; a Host header that cannot be part of a URL is not this API's concern. */
function requestUrl(req: IncomingMessage): string {
  // Concatenated, not resolved against a base: a path like `//x/y` must stay a path.
  const path = req.url ?? "/";
  try {
    return new URL(`http://${req.headers.host ?? "localhost"}${path}`).href;
  } catch {
    return new URL(`http://localhost${path}`).href;
  }
}

/** Node request → fetch `Request`. The body streams (the handler applies its own size limits). */
export function toFetchRequest(req: IncomingMessage, res: ServerResponse, body?: ReadableStream<Uint8Array>): Request {
  // req.headers, not rawHeaders: server.ts overwrites some (x-ferry-remote-addr from the socket,
  // x-request-id) and a client's own copies must not come through.
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (value) for (const v of value) headers.append(name, v);
  }
  // Aborted when the client goes away before the answer is complete (ends subscriptions).
  const abort = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  return new Request(requestUrl(req), {
    method: req.method ?? "GET",
    headers,
    signal: abort.signal,
    ...(body ? { body, duplex: "half" } : {}),
  } as RequestInit);
}

/** Bodies sent as they are produced (subscriptions, incremental delivery); others are buffered. */
const STREAMED = /^(?:text\/event-stream|multipart\/)/i;

/**
 * Writes a fetch `Response` to a Node response. A small answer (JSON) is read whole and sent
 * with its Content-Length in one write; a stream is piped with backpressure.
 */
export async function writeFetchResponse(response: Response, res: ServerResponse, method: string): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    if (key !== "set-cookie") headers[key] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  if (!response.body || method === "HEAD" || !STREAMED.test(response.headers.get("content-type") ?? "")) {
    const body = response.body ? Buffer.from(await response.arrayBuffer()) : null;
    if (body && !headers["content-length"]) headers["content-length"] = String(body.length);
    res.writeHead(response.status, headers);
    res.end(method === "HEAD" ? undefined : body);
    return;
  }
  res.writeHead(response.status, headers);
  const reader = response.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  res.once("close", stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((resolve) => res.once("drain", resolve).once("close", resolve));
      if (res.destroyed) return;
    }
    res.end();
  } finally {
    res.off("close", stop);
  }
}

/** A Node request handler running `handler`. */
export function serveFetch(handler: FetchHandler): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const method = req.method ?? "GET";
    const body = method === "GET" || method === "HEAD" ? null : bodyStream(req);
    try {
      const response = await handler(toFetchRequest(req, res, body?.stream));
      await writeFetchResponse(response, res, method);
    } finally {
      body?.detach();
    }
  };
}
