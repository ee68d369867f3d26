/**
 * Hostile API corpus (issue 11): GraphQL, REST and `/v2` requests against a running Ferry
 * (`tsx server.ts`, real Postgres) that try oversized bodies, deep or wide queries, wrong types,
 * injection strings, path traversal in repository names, forged/expired/revoked credentials,
 * other users' sessions and missing CSRF. Every case must be refused with its status and a stable
 * code in the body, and change nothing: registries, users, tokens, sessions, tasks, successful
 * audit entries and the store's files are compared before and after each case. (Refused
 * attempts may be audited as `denied`/`failed`: that is what the audit log is for.)
 *
 * `/v2` cases go over raw sockets: fetch() would normalise `..` and encoded dots before sending.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../lib/db/embedded";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";

const ADMIN_PASSWORD = `admin-pw-${randomBytes(8).toString("hex")}`;
const USER_PASSWORD = `user-pw-${randomBytes(8).toString("hex")}`;

interface Res {
  status: number;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

interface Case {
  name: string;
  send: () => Promise<Res>;
  status: number;
  /** Stable code expected in the body (REST `code`, GraphQL `extensions.code`/`ferryCode`, OCI `errors[].code`). */
  code: string;
}

/** Every error code a response carries, whatever the API. */
function codesOf(r: Res): string[] {
  const j = r.json;
  if (!j || typeof j !== "object") return [];
  const out: string[] = [];
  if (typeof j.code === "string") out.push(j.code);
  for (const e of Array.isArray(j.errors) ? j.errors : []) {
    if (typeof e?.code === "string") out.push(e.code);
    if (typeof e?.extensions?.code === "string") out.push(e.extensions.code);
    if (typeof e?.extensions?.ferryCode === "string") out.push(e.extensions.ferryCode);
  }
  return out;
}

function parse(status: number, text: string): Res {
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status, text, json };
}

/** One raw HTTP/1.1 request (the request line is sent exactly as given). */
function raw(port: number, requestLine: string, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    s.setTimeout(30_000, () => s.destroy(new Error(`timeout: ${requestLine.slice(0, 80)}`)));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", reject);
    s.on("close", () => {
      const all = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(all);
      if (!m) return reject(new Error(`no HTTP answer to ${requestLine.slice(0, 80)}: ${all.slice(0, 200)}`));
      const head = all.indexOf("\r\n\r\n");
      let body = all.slice(head + 4);
      if (/transfer-encoding: chunked/i.test(all.slice(0, head))) {
        let out = "";
        for (let rest = body; ; ) {
          const nl = rest.indexOf("\r\n");
          const n = parseInt(rest.slice(0, nl), 16);
          if (!n) break;
          out += rest.slice(nl + 2, nl + 2 + n);
          rest = rest.slice(nl + 2 + n + 2);
        }
        body = out;
      }
      resolve(parse(Number(m[1]), Buffer.from(body, "latin1").toString("utf8")));
    });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    // write, not end: a half-closed socket lets Node drop a response still being prepared.
    s.write(`${requestLine} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}Connection: close\r\n\r\n`);
  });
}

describe("hostile API corpus", () => {
  let db: TestDatabase;
  let ferry: FerryProcess;
  let tmp: string;
  let storeDir: string;
  const t: Record<string, string> = {};
  const cookies: Record<string, { cookie: string; csrf: string }> = {};
  let revokedTokenId = "";

  async function call(method: string, url: string, init: { body?: unknown; raw?: string; headers?: Record<string, string>; auth?: string; cookie?: { cookie: string; csrf: string }; csrf?: string } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.auth) headers.authorization = `Bearer ${init.auth}`;
    if (init.cookie) headers.cookie = init.cookie.cookie;
    if (init.csrf) headers["x-csrf-token"] = init.csrf;
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(ferry.url + url, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(30_000) });
    return parse(res.status, await res.text());
  }
  const api = (method: string, p: string, init: Parameters<typeof call>[2] = {}) => call(method, `/api/v1${p}`, init);
  const gql = (query: string, variables: Record<string, unknown> = {}, init: Parameters<typeof call>[2] = {}) => call("POST", "/api/graphql", { ...init, body: { query, variables } });

  async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query<T>(sql)).rows;
    } finally {
      await c.end();
    }
  }

  async function files(dir: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else out.push(`${path.relative(dir, p)}:${(await stat(p)).size}`);
      }
    };
    await walk(dir);
    return out.sort();
  }

  /** What no refused request may change. Columns that record use (last_used_at, last_seen_at) are left out. */
  async function snapshot() {
    const [row] = await query<Record<string, string>>(`
      SELECT (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM registry r) AS registries,
             (SELECT md5(coalesce(string_agg(concat_ws('|', id, username, password_hash, role, disabled, updated_at), ',' ORDER BY id), '')) FROM user_account) AS users,
             (SELECT md5(coalesce(string_agg(concat_ws('|', id, user_id, role, token_hash, expires_at, revoked_at), ',' ORDER BY id), '')) FROM api_token) AS tokens,
             (SELECT md5(coalesce(string_agg(concat_ws('|', id, user_id, expires_at), ',' ORDER BY id), '')) FROM user_session) AS sessions,
             (SELECT count(*) FROM task)::text AS tasks,
             (SELECT count(*) FROM tag_sync_state)::text AS tag_state,
             (SELECT count(*) FROM audit_log WHERE outcome = 'success')::text AS audit_success`);
    return { ...row, store: await files(storeDir) };
  }

  async function login(username: string, password: string): Promise<{ cookie: string; csrf: string }> {
    const res = await fetch(`${ferry.url}/api/v1/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) });
    expect(res.status, `login ${username}`).toBe(201);
    const body = (await res.json()) as { csrfToken: string };
    return { cookie: res.headers.get("set-cookie")!.split(";")[0]!, csrf: body.csrfToken };
  }

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-api-corpus-"));
    await chmod(tmp, 0o755);
    storeDir = path.join(tmp, "store");
    await mkdir(storeDir, { recursive: true });
    db = await createTestDatabase();
    ferry = await startFerry({
      DATABASE_URL: db.url,
      FERRY_DATA_DIR: tmp,
      FERRY_STORE_DIR: storeDir,
      FERRY_WORKERS: "0",
      FERRY_ADMIN_USER: "root",
      FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
      FERRY_SECRET_KEY: randomBytes(32).toString("hex"),
    });
    cookies.root = await login("root", ADMIN_PASSWORD);
    const asRoot = { cookie: cookies.root, csrf: cookies.root.csrf, headers: { origin: ferry.url } };
    // An on-demand registry mapping every name (upstream: a closed port), so a name that got
    // through to on-demand would leave a task behind.
    const closed = await freePort();
    expect((await api("POST", "/registries", { ...asRoot, body: { name: "up", urls: [`http://127.0.0.1:${closed}`], onDemand: true, maxRetries: 0 } })).status).toBe(201);
    for (const [name, role] of [["vic", "viewer"], ["olga", "operator"], ["gone", "operator"], ["expiring", "viewer"], ["dis", "viewer"]] as const) {
      expect((await api("POST", "/users", { ...asRoot, body: { username: name, password: USER_PASSWORD, role } })).status, name).toBe(201);
    }
    for (const [name, role] of [["admin", "admin"], ["viewer", "viewer"], ["operator", "operator"], ["revoked", "admin"]] as const) {
      const r = await api("POST", "/tokens", { ...asRoot, body: { name, role } });
      expect(r.status, name).toBe(201);
      t[name] = r.json.token;
      if (name === "revoked") revokedTokenId = r.json.info.id;
    }
    // Expires in 2 s and is never used before: no cache can know it as valid.
    const exp = await api("POST", "/tokens", { ...asRoot, body: { name: "expired", role: "admin", expiresAt: new Date(Date.now() + 2000).toISOString() } });
    expect(exp.status).toBe(201);
    t.expired = exp.json.token;
    cookies.vic = await login("vic", USER_PASSWORD);
    cookies.olga = await login("olga", USER_PASSWORD);
    cookies.gone = await login("gone", USER_PASSWORD);
    cookies.dis = await login("dis", USER_PASSWORD);
    cookies.expiring = await login("expiring", USER_PASSWORD);
    // Used once (so any cache holds it), then revoked, deleted or disabled through the API.
    expect((await api("GET", "/tasks", { auth: t.revoked })).status).toBe(200);
    expect((await api("GET", "/session", { cookie: cookies.gone })).status).toBe(200);
    expect((await api("GET", "/session", { cookie: cookies.dis })).status).toBe(200);
    expect((await api("DELETE", `/tokens/${revokedTokenId}`, asRoot)).status).toBe(200);
    expect((await api("DELETE", "/users/gone", asRoot)).status).toBe(200);
    expect((await api("PATCH", "/users/dis", { ...asRoot, body: { disabled: true } })).status).toBe(200);
    // Never used: expire it in the database.
    await query(`UPDATE user_session SET expires_at = now() - interval '1 minute' WHERE user_id = (SELECT id FROM user_account WHERE username = 'expiring')`);
    await new Promise((r) => setTimeout(r, 2100));
  }, 900_000);

  afterAll(async () => {
    await ferry?.stop();
    await db?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const reg = { name: "probe", urls: ["https://registry.example.com"] };
  const v2 = (line: string) => () => raw(ferry.port, line);

  const CASES: Case[] = [
    // ── credentials ──────────────────────────────────────────────────────────
    { name: "REST without credentials", send: () => api("POST", "/registries", { body: reg }), status: 401, code: "UNAUTHENTICATED" },
    { name: "forged API token", send: () => api("POST", "/registries", { auth: `ferry_${randomBytes(24).toString("base64url")}`, body: reg }), status: 401, code: "UNAUTHENTICATED" },
    { name: "10 KB bearer token", send: () => api("GET", "/registries", { auth: "x".repeat(10_000) }), status: 401, code: "UNAUTHENTICATED" },
    { name: "Basic auth on the control API", send: () => api("POST", "/registries", { headers: { authorization: `Basic ${Buffer.from(`root:${ADMIN_PASSWORD}`).toString("base64")}` }, body: reg }), status: 401, code: "UNAUTHENTICATED" },
    { name: "expired API token", send: () => api("POST", "/registries", { auth: t.expired!, body: reg }), status: 401, code: "UNAUTHENTICATED" },
    { name: "revoked API token (used before)", send: () => api("POST", "/registries", { auth: t.revoked!, body: reg }), status: 401, code: "UNAUTHENTICATED" },
    { name: "revoked API token on GraphQL", send: () => gql(`mutation { deleteRegistry(name: "up") }`, {}, { auth: t.revoked! }), status: 401, code: "UNAUTHENTICATED" },
    { name: "forged session cookie", send: () => api("DELETE", "/registries/up", { cookie: { cookie: `ferry_session=${randomBytes(32).toString("base64url")}`, csrf: "x" }, csrf: "x" }), status: 401, code: "UNAUTHENTICATED" },
    { name: "expired session", send: () => api("POST", "/registries", { cookie: cookies.expiring!, csrf: cookies.expiring!.csrf, body: reg }), status: 401, code: "UNAUTHENTICATED" },
    { name: "session of a deleted user", send: () => api("GET", "/tasks", { cookie: cookies.gone! }), status: 401, code: "UNAUTHENTICATED" },
    { name: "session of a disabled user", send: () => api("GET", "/tasks", { cookie: cookies.dis! }), status: 401, code: "UNAUTHENTICATED" },
    // ── CSRF and other users' sessions ───────────────────────────────────────
    { name: "cookie mutation without CSRF token", send: () => api("POST", "/registries", { cookie: cookies.root!, body: reg }), status: 403, code: "CSRF_REJECTED" },
    { name: "cookie mutation with another session's CSRF token", send: () => api("POST", "/registries", { cookie: cookies.root!, csrf: cookies.vic!.csrf, body: reg }), status: 403, code: "CSRF_REJECTED" },
    { name: "cookie mutation from another origin", send: () => api("DELETE", "/registries/up", { cookie: cookies.root!, csrf: cookies.root!.csrf, headers: { origin: "https://evil.example" } }), status: 403, code: "CSRF_REJECTED" },
    { name: "cookie mutation marked cross-site", send: () => api("DELETE", "/registries/up", { cookie: cookies.root!, csrf: cookies.root!.csrf, headers: { "sec-fetch-site": "cross-site" } }), status: 403, code: "CSRF_REJECTED" },
    { name: "GraphQL cookie mutation without CSRF token", send: () => gql(`mutation { deleteRegistry(name: "up") }`, {}, { cookie: cookies.root! }), status: 403, code: "CSRF_REJECTED" },
    { name: "GraphQL mutation over GET (no CSRF possible)", send: () => call("GET", `/api/graphql?query=${encodeURIComponent('mutation { deleteRegistry(name: "up") }')}`, { cookie: cookies.root!, csrf: cookies.root!.csrf }), status: 400, code: "BAD_REQUEST" },
    { name: "viewer session deletes a registry", send: () => api("DELETE", "/registries/up", { cookie: cookies.vic!, csrf: cookies.vic!.csrf }), status: 403, code: "FORBIDDEN" },
    { name: "viewer session changes the admin's password", send: () => api("PATCH", "/users/root", { cookie: cookies.vic!, csrf: cookies.vic!.csrf, body: { password: "taken-over-password-123" } }), status: 403, code: "FORBIDDEN" },
    { name: "viewer session lists users", send: () => api("GET", "/users", { cookie: cookies.vic! }), status: 403, code: "FORBIDDEN" },
    { name: "operator session creates an admin token", send: () => api("POST", "/tokens", { cookie: cookies.olga!, csrf: cookies.olga!.csrf, body: { name: "escalate", role: "admin" } }), status: 403, code: "FORBIDDEN" },
    { name: "operator token revokes the admin's token", send: () => api("DELETE", `/tokens/${revokedTokenId}`, { auth: t.operator! }), status: 403, code: "FORBIDDEN" },
    { name: "viewer token GraphQL createUser", send: () => gql(`mutation { createUser(username: "eve", password: "long enough password", role: admin) { username } }`, {}, { auth: t.viewer! }), status: 403, code: "FORBIDDEN" },
    { name: "operator token GraphQL audit log", send: () => gql(`{ audit { items { id } } }`, {}, { auth: t.operator! }), status: 403, code: "FORBIDDEN" },
    // ── REST bodies ──────────────────────────────────────────────────────────
    { name: "REST body over 256 KiB", send: () => api("POST", "/registries", { auth: t.admin!, body: { ...reg, pad: "x".repeat(300 * 1024) } }), status: 413, code: "PAYLOAD_TOO_LARGE" },
    { name: "REST malformed JSON", send: () => api("POST", "/registries", { auth: t.admin!, raw: '{"name": "x", "urls": [', headers: { "content-type": "application/json" } }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST JSON null body", send: () => api("POST", "/users", { auth: t.admin!, raw: "null", headers: { "content-type": "application/json" } }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST form body (wrong content type)", send: () => api("POST", "/users", { auth: t.admin!, raw: "username=eve&password=longenoughpassword&role=admin", headers: { "content-type": "application/x-www-form-urlencoded" } }), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
    { name: "REST text/plain body holding JSON", send: () => api("POST", "/users", { auth: t.admin!, raw: JSON.stringify({ username: "eve", password: "long enough password", role: "admin" }), headers: { "content-type": "text/plain" } }), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
    { name: "REST wrong types", send: () => api("POST", "/registries", { auth: t.admin!, body: { name: 42, urls: "https://x.example", onDemand: "yes" } }), status: 400, code: "CONFIG_INVALID" },
    { name: "REST array instead of object", send: () => api("POST", "/users", { auth: t.admin!, body: [{ username: "eve", password: "long enough password", role: "admin" }] }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST __proto__ key smuggled into a user", send: () => api("POST", "/users", { auth: t.admin!, raw: '{"username":"eve","password":"long enough password","role":"viewer","__proto__":{"role":"admin"}}', headers: { "content-type": "application/json" } }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST 100,000-deep JSON nesting", send: () => api("POST", "/registries", { auth: t.admin!, raw: `{"name":"x","urls":${"[".repeat(100_000)}${"]".repeat(100_000)}}`, headers: { "content-type": "application/json" } }), status: 400, code: "CONFIG_INVALID" },
    { name: "REST registry with 2,000 urls", send: () => api("POST", "/registries", { auth: t.admin!, body: { name: "many", urls: Array.from({ length: 2000 }, (_, i) => `https://r${i}.example.com`) } }), status: 400, code: "CONFIG_INVALID" },
    { name: "REST registry url with user info", send: () => api("POST", "/registries", { auth: t.admin!, body: { name: "creds", urls: ["https://user:secret@registry.example.com"] } }), status: 400, code: "CONFIG_INVALID" },
    { name: "REST registry url file:", send: () => api("POST", "/registries", { auth: t.admin!, body: { name: "local", urls: ["file:///etc/passwd"] } }), status: 400, code: "CONFIG_INVALID" },
    { name: "REST maxRetries 1e308", send: () => api("POST", "/registries", { auth: t.admin!, body: { ...reg, maxRetries: 1e308 } }), status: 400, code: "CONFIG_INVALID" },
    { name: "REST SQL injection in a registry name (path)", send: () => api("DELETE", `/registries/${encodeURIComponent("up' OR '1'='1")}`, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST SQL injection in a registry name (body)", send: () => api("POST", "/registries", { auth: t.admin!, body: { name: "x'); DROP TABLE registry; --", urls: ["https://x.example"] } }), status: 400, code: "CONFIG_INVALID" },
    { name: "REST injection in a cursor", send: () => api("GET", "/tasks?cursor=1%27%20OR%201%3D1--", { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST huge page size", send: () => api("GET", "/tasks?limit=1000000", { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST user name with traversal", send: () => api("POST", "/users", { auth: t.admin!, body: { username: "../../root", password: "long enough password", role: "viewer" } }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST role outside the enum", send: () => api("POST", "/tokens", { auth: t.admin!, body: { name: "x", role: "superuser" } }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST token that expired yesterday", send: () => api("POST", "/tokens", { auth: t.admin!, body: { name: "past", role: "viewer", expiresAt: new Date(Date.now() - 86_400_000).toISOString() } }), status: 400, code: "BAD_USER_INPUT" },
    { name: "REST NUL in a user name", send: () => api("POST", "/users", { auth: t.admin!, body: { username: "eve\u0000root", password: "long enough password", role: "viewer" } }), status: 400, code: "BAD_USER_INPUT" },
    // ── GraphQL ──────────────────────────────────────────────────────────────
    { name: "GraphQL body over the limit", send: () => gql(`{ me { username } }`, { pad: "x".repeat(2 * 1024 * 1024) }, { auth: t.admin! }), status: 413, code: "PAYLOAD_TOO_LARGE" },
    { name: "GraphQL malformed JSON", send: () => call("POST", "/api/graphql", { auth: t.admin!, raw: '{"query": "{ me { username } }"', headers: { "content-type": "application/json" } }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL text/plain mutation (CSRF-safe content type required)", send: () => call("POST", "/api/graphql", { auth: t.admin!, raw: JSON.stringify({ query: 'mutation { deleteRegistry(name: "up") }' }), headers: { "content-type": "text/plain" } }), status: 400, code: "BAD_REQUEST" },
    { name: "GraphQL without a query", send: () => call("POST", "/api/graphql", { auth: t.admin!, body: { variables: {} } }), status: 400, code: "BAD_REQUEST" },
    { name: "GraphQL batch of 100 mutations", send: () => call("POST", "/api/graphql", { auth: t.admin!, body: Array.from({ length: 100 }, () => ({ query: 'mutation { deleteRegistry(name: "up") }' })) }), status: 400, code: "BAD_REQUEST" },
    { name: "GraphQL 12-deep query", send: () => gql(`{ ${"a: registries { ".repeat(12)}name${" }".repeat(12)} }`, {}, { auth: t.admin! }), status: 400, code: "QUERY_TOO_COMPLEX" },
    { name: "GraphQL 500 aliases", send: () => gql(`{ ${Array.from({ length: 500 }, (_, i) => `a${i}: me { username }`).join(" ")} }`, {}, { auth: t.admin! }), status: 400, code: "QUERY_TOO_COMPLEX" },
    {
      name: "GraphQL fragment fan-out (2^20 fields)",
      send: () =>
        gql(
          `{ ...F0 } fragment F0 on Query { ...F1 ...F1 } ${Array.from({ length: 19 }, (_, i) => `fragment F${i + 1} on Query { ...F${i + 2} ...F${i + 2} }`).join(" ")} fragment F20 on Query { me { username } }`,
          {},
          { auth: t.admin! },
        ),
      status: 400,
      code: "QUERY_TOO_COMPLEX",
    },
    { name: "GraphQL fragment cycle", send: () => gql(`{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }`, {}, { auth: t.admin! }), status: 400, code: "GRAPHQL_VALIDATION_FAILED" },
    { name: "GraphQL token flood", send: () => gql(`{ ${"me { username } ".repeat(3000)} }`, {}, { auth: t.admin! }), status: 400, code: "QUERY_TOO_COMPLEX" },
    { name: "GraphQL huge page", send: () => gql(`{ tasks(first: 100000) { items { id } } }`, {}, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL wrong literal type", send: () => gql(`{ tasks(first: "ten") { items { id } } }`, {}, { auth: t.admin! }), status: 400, code: "GRAPHQL_VALIDATION_FAILED" },
    { name: "GraphQL wrong variable type", send: () => gql(`query($n: Int) { tasks(first: $n) { items { id } } }`, { n: "ten" }, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL registry input that is a string", send: () => gql(`mutation($i: JSON!) { createRegistry(input: $i) { name } }`, { i: "name=x" }, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL huge list in a registry input", send: () => gql(`mutation($i: JSON!) { createRegistry(input: $i) { name } }`, { i: { name: "many", urls: Array.from({ length: 2000 }, (_, i) => `https://r${i}.example.com`) } }, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL SQL injection in a registry name", send: () => gql(`mutation { deleteRegistry(name: "up'; DROP TABLE registry; --") }`, {}, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL injection through a variable", send: () => gql(`mutation($n: String!) { deleteRegistry(name: $n) }`, { n: 'up") { x } deleteUser(username: "root' }, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL injection in a task filter", send: () => gql(`{ tasks(filter: { registry: "x' OR '1'='1" }) { items { id } } }`, {}, { auth: t.admin! }), status: 400, code: "BAD_USER_INPUT" },
    { name: "GraphQL unknown field", send: () => gql(`{ users { username passwordHash } }`, {}, { auth: t.admin! }), status: 400, code: "GRAPHQL_VALIDATION_FAILED" },
    // ── /v2 names ────────────────────────────────────────────────────────────
    { name: "/v2 dot-dot segments", send: v2("GET /v2/../../etc/passwd/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 dot-dot inside a name", send: v2("GET /v2/library/../up/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 percent-encoded dot-dot", send: v2("GET /v2/%2e%2e/%2e%2e/etc/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 encoded single dot, mixed case", send: v2("GET /v2/library/%2E/up/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 backslash dot-dot", send: v2("GET /v2/library\\..\\up/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 encoded slashes and dot-dot", send: v2("GET /v2/a%2f..%2f..%2fetc/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 encoded NUL in a name", send: v2("GET /v2/a%00b/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 absolute (double slash) name", send: v2("GET /v2//etc/passwd/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 the store's own _oci folder", send: v2("GET /v2/_oci/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 upper-case name", send: v2("GET /v2/Library/Alpine/manifests/latest"), status: 400, code: "NAME_INVALID" },
    { name: "/v2 4,000-character name", send: v2(`GET /v2/${Array.from({ length: 40 }, () => "a".repeat(99)).join("/")}/manifests/latest`), status: 400, code: "NAME_INVALID" },
    { name: "/v2 traversal in a tag", send: v2("GET /v2/library/alpine/manifests/..%2f..%2fetc%2fpasswd"), status: 400, code: "TAG_INVALID" },
    { name: "/v2 traversal in a digest", send: v2("GET /v2/library/alpine/blobs/sha256:..%2f..%2fetc%2fpasswd"), status: 400, code: "DIGEST_INVALID" },
    { name: "/v2 malformed percent-encoding in a tag", send: v2("GET /v2/library/alpine/manifests/%E0%A4%A"), status: 400, code: "TAG_INVALID" },
    { name: "/v2 malformed percent-encoding in a digest", send: v2("GET /v2/library/alpine/blobs/%ZZ"), status: 400, code: "DIGEST_INVALID" },
    { name: "/v2 push refused", send: () => raw(ferry.port, "PUT /v2/library/alpine/manifests/latest", { "content-type": "application/vnd.oci.image.manifest.v1+json", "content-length": "0" }), status: 405, code: "UNSUPPORTED" },
    { name: "/v2 delete refused", send: v2("DELETE /v2/library/alpine/manifests/latest"), status: 405, code: "UNSUPPORTED" },
    { name: "/v2 tags list with a negative n", send: v2("GET /v2/library/alpine/tags/list?n=-1"), status: 400, code: "UNSUPPORTED" },
  ];

  it("has at least 40 named cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  CASES.forEach((c, i) => {
    it(`case ${i + 1}: ${c.name}`, async () => {
      const before = await snapshot();
      const res = await c.send();
      const codes = codesOf(res);
      console.log(`api corpus case ${i + 1} (${c.name}): ${res.status} ${[...new Set(codes)].join(",")}`);
      expect(res.status, `${c.name}: ${res.text.slice(0, 300)}`).toBe(c.status);
      expect(codes, `${c.name}: ${res.text.slice(0, 300)}`).toContain(c.code);
      expect(await snapshot(), `${c.name} changed something`).toEqual(before);
    }, 60_000);
  });

  it("still answers and still refuses nothing legitimate afterwards", async () => {
    expect((await api("GET", "/registries/up", { auth: t.admin! })).status).toBe(200);
    expect((await gql("{ me { username } }", {}, { auth: t.viewer! })).json.data.me.username).toBe("root");
    expect((await api("GET", "/session", { cookie: cookies.vic! })).status).toBe(200);
  });
});
