/**
 * The request function every layer wraps. The client builds one `Send` by composing layers
 * (retry → observe → status → auth → limit → redirect → base), so cross-cutting behaviour lives
 * in one small function each instead of flags inside the client.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { errorFromTransport, redactUrl, type OciErrorCode } from "./errors";

/** One logical request to the registry. */
export interface OciRequest {
  url: URL;
  method: "GET" | "HEAD";
  headers?: Record<string, string>;
  /** Bearer token scope this request needs, e.g. `repository:library/alpine:pull`. */
  scope?: string;
  signal?: AbortSignal;
  /** Short label for errors, e.g. `GET manifest library/alpine:3`; never holds secrets. */
  what: string;
  /** The code to use for a bare 404 (HEAD answers have no body to read a code from). */
  notFoundCode?: OciErrorCode;
}

/** A response whose body the caller must consume or destroy. */
export interface OciResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /** Final URL after redirects. */
  url: URL;
}

export type Send = (req: OciRequest) => Promise<OciResponse>;
export type Layer = (next: Send) => Send;

/** Composes layers; the first is outermost. */
export function compose(base: Send, ...layers: Layer[]): Send {
  return layers.reduceRight<Send>((next, layer) => layer(next), base);
}

export interface Timeouts {
  connectMs: number;
  headersMs: number;
  bodyMs: number;
}

/** The innermost layer: one HTTP exchange through the given dispatcher, no redirects. */
export function baseSend(dispatcher: Dispatcher, timeouts: Timeouts, userAgent: string): Send {
  return async (req) => {
    try {
      const res = await dispatcher.request({
        origin: req.url.origin,
        path: req.url.pathname + req.url.search,
        method: req.method,
        headers: { "user-agent": userAgent, ...req.headers },
        signal: req.signal,
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyMs,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body, url: req.url };
    } catch (err) {
      throw errorFromTransport(err, `${req.what} (${redactUrl(req.url)})`);
    }
  };
}

/** Reads a whole (small) body as text, stopping after `limit` bytes. */
export async function readText(body: Readable, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > limit) break;
      chunks.push(b);
    }
  } catch {
    // An error body that fails half-way is still an error; what we have is enough.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Discards a body without reading it, releasing the connection. */
export function discard(body: Readable): void {
  body.on("error", () => {});
  body.destroy();
}

/** First value of a header that may repeat. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
