/** Small layers around Send: redirects, status → OciError, header observation. */
import { errorFromStatus, OciError, redactUrl } from "./errors";
import { parseRetryAfter } from "./retry";
import { discard, header, readText, type Layer, type OciResponse } from "./transport";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Follows redirects (blobs go to object storage). The Authorization header is dropped when the
 * origin changes: a registry token must never reach S3 or a CDN, and signed URLs carry their own.
 */
export function redirectLayer(maxRedirects = 5): Layer {
  return (next) => async (req) => {
    let current = req;
    for (let hop = 0; ; hop++) {
      const res = await next(current);
      if (!REDIRECTS.has(res.status)) return res;
      const location = header(res.headers, "location");
      discard(res.body);
      if (!location) throw new OciError("INVALID_RESPONSE", `${req.what}: redirect without a Location header`, { status: res.status });
      if (hop >= maxRedirects) throw new OciError("TOO_MANY_REDIRECTS", `${req.what}: more than ${maxRedirects} redirects`);
      const url = new URL(location, current.url);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new OciError("INVALID_RESPONSE", `${req.what}: redirect to unsupported scheme ${url.protocol}`);
      }
      if (current.url.protocol === "https:" && url.protocol === "http:") {
        throw new OciError("INVALID_RESPONSE", `${req.what}: refusing redirect from https to plain http (${redactUrl(url)})`);
      }
      const headers = { ...current.headers };
      if (url.origin !== current.url.origin) delete headers.authorization;
      current = { ...current, url, headers };
    }
  };
}

/** Turns any non-2xx answer into an OciError (reading the registry's JSON error body). */
export function statusLayer(): Layer {
  return (next) => async (req) => {
    const res = await next(req);
    if (res.status >= 200 && res.status < 300) return res;
    const text = req.method === "HEAD" ? "" : await readText(res.body);
    if (req.method === "HEAD") discard(res.body);
    const retryAfter = parseRetryAfter(header(res.headers, "retry-after"));
    const err = errorFromStatus(res.status, `${req.what} (${redactUrl(res.url)})`, text, retryAfter);
    if (err.code === "NOT_FOUND" && req.notFoundCode) {
      throw new OciError(req.notFoundCode, err.message, { status: 404, ...(err.registryCode ? { registryCode: err.registryCode } : {}) });
    }
    throw err;
  };
}

/** Calls `observe` with every response's headers (rate-limit tracking), error answers included. */
export function observeLayer(observe: (res: OciResponse) => void): Layer {
  return (next) => async (req) => {
    const res = await next(req);
    observe(res);
    return res;
  };
}
