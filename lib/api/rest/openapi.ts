import { z } from "zod";
import { problemSchema, registryConfigDoc } from "../schemas";
import type { RouteDef } from "./define";
import { ROUTES } from "./routes";

type Json = Record<string, unknown>;

/**
 * Removes `$schema` from a generated JSON Schema (OpenAPI 3.1 schema objects take it from the
 * document's `jsonSchemaDialect`) and hoists `$defs` into components, rewriting their refs.
 */
function clean(schema: Json, defs: Record<string, Json>): Json {
  const { $schema: _s, $defs, ...rest } = schema as Json & { $defs?: Record<string, Json> };
  if ($defs) for (const [k, v] of Object.entries($defs)) defs[k] = rewrite(v) as Json;
  return rewrite(rest) as Json;
}

function rewrite(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(rewrite);
  if (v && typeof v === "object") {
    const out: Json = {};
    for (const [k, x] of Object.entries(v as Json)) {
      out[k] = k === "$ref" && typeof x === "string" ? x.replace(/^#\/\$defs\//, "#/components/schemas/") : rewrite(x);
    }
    return out;
  }
  return v;
}

function toSchema(schema: z.ZodType, io: "input" | "output", defs: Record<string, Json>): Json {
  return clean(z.toJSONSchema(schema, { io, unrepresentable: "any", reused: "inline", target: "draft-2020-12" }) as Json, defs);
}

function parameters(def: RouteDef, defs: Record<string, Json>): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [["path", def.params], ["query", def.query]] as const) {
    if (!schema) continue;
    const js = toSchema(schema, "input", defs) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, p] of Object.entries(js.properties ?? {})) {
      const { description, ...rest } = p as Json & { description?: string };
      out.push({ name, in: where, required: where === "path" || (js.required ?? []).includes(name), schema: rest, ...(description ? { description } : {}), ...(where === "query" && (rest.anyOf || rest.type === "array") ? { explode: true } : {}) });
    }
  }
  for (const h of def.headers ?? []) out.push({ name: h.name, in: "header", required: false, schema: { type: "string" }, description: h.description });
  return out;
}

const ERROR_STATUSES: Record<string, string> = { "400": "Invalid input", "401": "Not signed in", "403": "Not allowed, or CSRF check failed", "404": "Not found", "409": "Conflict" };

let cached: Json | null = null;

/** The OpenAPI 3.1 document, generated from the route table and its zod schemas. */
export function buildOpenApi(): Json {
  if (cached) return cached;
  const defs: Record<string, Json> = {};
  const paths: Record<string, Record<string, Json>> = {};
  for (const def of ROUTES) {
    const op: Json = {
      operationId: def.operationId,
      summary: def.summary,
      tags: [def.tag],
      ...(def.action === "public" ? { security: [] } : { "x-ferry-action": def.action }),
      parameters: parameters(def, defs),
      responses: {
        [String(def.status ?? 200)]: { description: "Success", content: { "application/json": { schema: toSchema(def.response, "output", defs) } } },
        ...Object.fromEntries(Object.entries({ ...ERROR_STATUSES, ...def.errors }).map(([k, d]) => [k, { description: d, content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } }])),
      },
    };
    if (def.body) op.requestBody = { required: true, content: { "application/json": { schema: toSchema(def.body, "input", defs) } } };
    (paths[def.path] ??= {})[def.method.toLowerCase()] = op;
  }
  paths["/openapi.json"] = { get: { operationId: "openapi", summary: "This document", tags: ["meta"], security: [], responses: { "200": { description: "OpenAPI 3.1", content: { "application/json": { schema: { type: "object" } } } } } } };
  defs.Problem = toSchema(problemSchema, "output", defs);
  defs.RegistryConfig = toSchema(registryConfigDoc, "input", defs);
  cached = {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: { title: "Ferry control API", version: "1.0.0", description: "Errors are RFC 9457 problem details with a stable `code`. Cookie sessions need `X-CSRF-Token` on state changes." },
    servers: [{ url: "/api/v1" }],
    security: [{ bearer: [] }, { session: [] }],
    paths,
    components: {
      schemas: defs,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "API token (ferry_…)" },
        session: { type: "apiKey", in: "cookie", name: "ferry_session" },
      },
    },
  };
  return cached;
}
