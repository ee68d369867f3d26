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

/** Node request → fetch `Request`. The body streams (the handler applies its own size limits). */
export function toFetchRequest(req: IncomingMessage, res: ServerResponse, body?: ReadableStream<Uint8Array>): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  // Aborted when the client goes away before the answer is complete (ends subscriptions).
  const abort = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  return new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method: req.method ?? "GET",
    headers,
    signal: abort.signal,
    ...(body ? { body, duplex: "half" } : {}),
  } as RequestInit);
}

/** Writes a fetch `Response` to a Node response, streaming its body with backpressure. */
export async function writeFetchResponse(response: Response, res: ServerResponse, method: string): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    if (key !== "set-cookie") headers[key] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  if (!response.body || method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
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
