import type { z } from "zod";
import { authenticate, requestMeta, type Viewer } from "../../auth";
import { AppError } from "../../errors";
import { getApiEnv, type ApiEnv } from "../env";
import { perform, type CallContext } from "../perform";
import { Reply, type RouteDef } from "./define";
import { buildOpenApi } from "./openapi";
import { problemResponse } from "./problem";
import { ROUTES } from "./routes";

export const API_PREFIX = "/api/v1";
/** Request bodies above this are refused before parsing (registry configs are a few KiB). */
const MAX_BODY_BYTES = 256 * 1024;

interface Compiled {
  def: RouteDef;
  re: RegExp;
  names: string[];
}

const compiled: Compiled[] = ROUTES.map((def) => {
  const names: string[] = [];
  const re = new RegExp(
    "^" +
      def.path.replace(/[.*+?^${}()|[\]\\]/g, (c) => (c === "{" || c === "}" ? c : `\\${c}`)).replace(/\{(\w+)\}/g, (_m, n: string) => {
        names.push(n);
        return "([^/]+)";
      }) +
      "$",
  );
  return { def, re, names };
});

function match(method: string, path: string): { def: RouteDef; params: Record<string, string> } | { allow: string[] } | null {
  const allow: string[] = [];
  for (const c of compiled) {
    const m = c.re.exec(path);
    if (!m) continue;
    if (c.def.method !== method) {
      allow.push(c.def.method);
      continue;
    }
    const params: Record<string, string> = {};
    c.names.forEach((n, i) => {
      let v = m[i + 1]!;
      try {
        v = decodeURIComponent(v);
      } catch {
        // left encoded: the param schema rejects it
      }
      params[n] = v;
    });
    return { def: c.def, params };
  }
  return allow.length ? { allow } : null;
}

/** Zod issues as `{path, message}`; the offending values are never echoed. */
function validate<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return value as T;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 20).map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message }));
  throw new AppError("BAD_USER_INPUT", `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, { details: { issues } });
}

function queryObject(url: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

async function readBody(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) throw new AppError("PAYLOAD_TOO_LARGE", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  const text = await request.text();
  if (text.length === 0) return undefined;
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new AppError("PAYLOAD_TOO_LARGE", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError("BAD_USER_INPUT", "the body is not valid JSON");
  }
}

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  if (status === 204) return new Response(null, { status, headers: { "cache-control": "no-store", ...headers } });
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store", ...headers } });
}

/**
 * Handles one request under /api/v1: match the route table (404/405), authenticate (401 for a
 * bad token, 403 for a failed CSRF check), authorize the route's action before reading input
 * (so a viewer's mutation is 403 whatever it sends), validate params/query/body with the route's
 * zod schemas, run the handler, and turn any error into problem+json in one place.
 */
export async function handleRest(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) || "/" : url.pathname;
  const method = request.method.toUpperCase() === "HEAD" ? "GET" : request.method.toUpperCase();
  let env: ApiEnv | null = null;
  const logError = (err: unknown) => {
    if (env) env.log.error({ err, path }, "api request failed");
    else console.error("api request failed", path, err);
  };
  try {
    if (path === "/openapi.json" && method === "GET") return json(buildOpenApi(), 200);
    const found = match(method, path);
    if (!found) throw new AppError("NOT_FOUND", `no API route ${path.slice(0, 200)}`);
    if ("allow" in found) {
      return problemResponse(new AppError("METHOD_NOT_ALLOWED", `${method} is not allowed here`), url.pathname, logError, { allow: found.allow.join(", ") });
    }
    const { def, params } = found;
    env = await getApiEnv();
    const ctx: CallContext = { env, viewer: null, meta: requestMeta(request.headers) };
    let viewer: Viewer | null = null;
    try {
      viewer = await authenticate(env.db, request);
    } catch (err) {
      if (def.action !== "public") throw err;
      ctx.authError = err;
    }
    ctx.viewer = viewer;
    const parse = async () => {
      const p = validate(def.params, params, "path");
      const q = validate(def.query, queryObject(url), "query");
      const raw = def.body || method !== "GET" ? await readBody(request) : undefined;
      const b = def.body ? validate(def.body, raw ?? {}, "body") : undefined;
      return { params: p, query: q, body: b, request };
    };
    let result: unknown;
    if (def.action === "public") {
      result = await def.handler(ctx, await parse());
    } else {
      let target: string | null = null;
      result = await perform(ctx, def.action, null, async () => {
        const input = await parse();
        target = def.target?.({ params: input.params, body: input.body }) ?? null;
        return def.handler(ctx, input);
      }, undefined, () => target);
    }
    if (result instanceof Reply) return json(result.body, result.init.status ?? def.status ?? 200, result.init.headers);
    return json(result, def.status ?? 200);
  } catch (err) {
    return problemResponse(err, url.pathname, logError);
  }
}
