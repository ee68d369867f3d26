/**
 * The control API over HTTP against a running Ferry (`tsx server.ts`): REST under /api/v1,
 * GraphQL at /api/graphql, subscriptions over SSE at /api/graphql/stream. Covers who may do
 * what (401/403/CSRF/revocation), that secrets never come back (responses and logs are grepped),
 * hostile input, and that the OpenAPI document matches the routes.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../../lib/api";
import { isMutation } from "../../../lib/auth";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";

const ADMIN_PASSWORD = `admin-pw-${randomBytes(8).toString("hex")}`;
const UPSTREAM_PASSWORD = `upstream-pw-${randomBytes(8).toString("hex")}`;
const VIEWER_PASSWORD = `viewer-pw-${randomBytes(8).toString("hex")}`;
const OPERATOR_PASSWORD = `operator-pw-${randomBytes(8).toString("hex")}`;

interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe("control API", () => {
  let db: TestDatabase;
  let ferry: FerryProcess;
  let tmp: string;
  /** Every response body seen, to grep for secrets at the end. */
  const seen: string[] = [];
  const tokens: Record<string, { token: string; id: string }> = {};
  let cookie = "";
  let csrf = "";

  async function call(method: string, url: string, init: { body?: unknown; raw?: string; headers?: Record<string, string>; auth?: string | null; session?: boolean } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.auth) headers.authorization = `Bearer ${init.auth}`;
    if (init.session) headers.cookie = cookie;
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(ferry.url + url, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    seen.push(text);
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, text, json };
  }
  const api = (method: string, p: string, init: Parameters<typeof call>[2] = {}) => call(method, `/api/v1${p}`, init);
  const gql = (query: string, variables: Record<string, unknown> = {}, init: Parameters<typeof call>[2] = {}) =>
    call("POST", "/api/graphql", { ...init, body: { query, variables } });

  async function count(table: string): Promise<number> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-api-"));
    await chmod(tmp, 0o755);
    db = await createTestDatabase();
    ferry = await startFerry({
      DATABASE_URL: db.url,
      FERRY_DATA_DIR: tmp,
      FERRY_WORKERS: "0",
      FERRY_LOG_LEVEL: "debug",
      FERRY_ADMIN_USER: "root",
      FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
      FERRY_SECRET_KEY: randomBytes(32).toString("hex"),
    });
  }, 900_000);

  afterAll(async () => {
    await ferry?.stop();
    await db?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("answers 401 without credentials on every API, and on the subscription stream", async () => {
    for (const r of ROUTES.filter((r) => r.action !== "public")) {
      const p = r.path.replace("{name}", "docker").replace("{id}", "1").replace("{username}", "root");
      const res = await api(r.method, p, r.body ? { body: {} } : {});
      expect(res.status, `${r.method} ${p}`).toBe(401);
      expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
      expect(res.json).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
    }
    const g = await gql("{ me { username } }");
    expect(g.status).toBe(401);
    expect(g.json.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    const s = await call("POST", "/api/graphql/stream", { body: { query: "subscription { generatorChanged { phase } }" }, headers: { accept: "text/event-stream" } });
    expect(s.status).toBe(401);
    expect((await api("GET", "/registries", { auth: "ferry_not-a-real-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" })).status).toBe(401);
  });

  it("signs in with a session cookie; state changes need the CSRF token and the same origin", async () => {
    const bad = await api("POST", "/session", { body: { username: "root", password: "wrong-password" } });
    expect(bad.status).toBe(401);
    const login = await api("POST", "/session", { body: { username: "root", password: ADMIN_PASSWORD } });
    expect(login.status).toBe(201);
    const setCookie = login.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/ferry_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    cookie = setCookie.split(";")[0]!;
    csrf = login.json.csrfToken;
    expect(csrf).toBeTruthy();
    const me = await api("GET", "/session", { session: true });
    expect(me.json).toMatchObject({ user: { username: "root", role: "admin" }, via: "session", csrfToken: csrf });

    const before = await count("registry");
    const body = { name: "csrf-probe", urls: ["https://registry.example.com"] };
    const noToken = await api("POST", "/registries", { session: true, body });
    expect(noToken.status).toBe(403);
    expect(noToken.json.code).toBe("CSRF_REJECTED");
    const wrongToken = await api("POST", "/registries", { session: true, body, headers: { "x-csrf-token": (csrf.startsWith("x") ? "y" : "x") + csrf.slice(1) } });
    expect(wrongToken.status).toBe(403);
    const otherOrigin = await api("POST", "/registries", { session: true, body, headers: { "x-csrf-token": csrf, origin: "https://evil.example" } });
    expect(otherOrigin.status).toBe(403);
    const gqlNoToken = await gql(`mutation { deleteRegistry(name: "x") }`, {}, { session: true });
    expect(gqlNoToken.status).toBe(403);
    expect(await count("registry")).toBe(before);

    const ok = await api("POST", "/registries", { session: true, body, headers: { "x-csrf-token": csrf, origin: ferry.url } });
    expect(ok.status).toBe(201);
    expect((await api("DELETE", "/registries/csrf-probe", { session: true, headers: { "x-csrf-token": csrf } })).status).toBe(200);
  });

  it("creates registries with write-only credentials, users and role-scoped tokens", async () => {
    const h = { session: true, headers: { "x-csrf-token": csrf } };
    const created = await api("POST", "/registries", { ...h, body: { name: "docker", urls: ["https://registry-1.docker.io"], pollInterval: "6h", credentials: { username: "bot", password: UPSTREAM_PASSWORD }, content: [{ prefix: "library/**" }] } });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({ name: "docker", hasCredentials: true, enabled: true });
    expect(created.json.config.credentials).toBeUndefined();
    const stored = new pg.Client({ connectionString: db.url });
    await stored.connect();
    const row = (await stored.query<{ config: unknown; secret: Buffer }>(`SELECT config, secret FROM registry WHERE name = 'docker'`)).rows[0]!;
    await stored.end();
    expect(JSON.stringify(row.config)).not.toContain(UPSTREAM_PASSWORD);
    expect(row.secret.toString("latin1")).not.toContain(UPSTREAM_PASSWORD);

    // Update without credentials keeps them; null removes them.
    const kept = await api("PUT", "/registries/docker", { ...h, body: { urls: ["https://registry-1.docker.io"], pollInterval: "12h", content: [{ prefix: "library/**" }] } });
    expect(kept.json).toMatchObject({ hasCredentials: true, config: { pollInterval: "12h" } });
    const invalid = await api("PUT", "/registries/docker", { ...h, body: { urls: ["ftp://nope"], maxRetries: "lots" } });
    expect(invalid.status).toBe(400);
    expect(invalid.json.code).toBe("CONFIG_INVALID");
    expect(invalid.json.issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(["urls[0]", "maxRetries"]));
    expect((await api("GET", "/registries/docker", h)).json.config.pollInterval).toBe("12h");

    for (const [username, role, password] of [["vera", "viewer", VIEWER_PASSWORD], ["otto", "operator", OPERATOR_PASSWORD]] as const) {
      const u = await api("POST", "/users", { ...h, body: { username, password, role } });
      expect(u.status, u.text).toBe(201);
      expect(u.text).not.toContain(password);
    }
    for (const role of ["viewer", "operator", "admin"] as const) {
      const t = await api("POST", "/tokens", { ...h, body: { name: `${role} automation`, role } });
      expect(t.status, t.text).toBe(201);
      expect(t.json.token).toMatch(/^ferry_/);
      tokens[role] = { token: t.json.token, id: t.json.info.id };
      seen.pop(); // the one response allowed to contain the token
    }
    const list = await api("GET", "/tokens", { auth: tokens.admin!.token });
    expect(list.json.items).toHaveLength(3);
    for (const t of Object.values(tokens)) expect(list.text).not.toContain(t.token);
  });

  it("gives a viewer 403 on every mutation, REST and GraphQL, and changes nothing", async () => {
    const viewer = tokens.viewer!.token;
    const before = { registry: await count("registry"), task: await count("task"), users: await count("user_account"), tokens: await count("api_token") };
    const samples: Record<string, unknown> = {
      "/registries": { name: "evil", urls: ["https://evil.example"] },
      "/registries/{name}": { urls: ["https://evil.example"] },
      "/registries/{name}/repositories/sync": { repository: "library/alpine" },
      "/registries/{name}/images/sync": { repository: "library/alpine", reference: "3" },
      "/users": { username: "mallory", password: "long enough password", role: "admin" },
      "/users/{username}": { role: "admin" },
      "/tokens": { name: "escalate", role: "admin" },
    };
    for (const r of ROUTES.filter((r) => r.action !== "public" && isMutation(r.action))) {
      const p = r.path.replace("{name}", "docker").replace("{id}", r.path.startsWith("/tokens") ? tokens.admin!.id : "1").replace("{username}", "root");
      const res = await api(r.method, p, { auth: viewer, ...(r.body ? { body: samples[r.path] ?? {} } : {}) });
      expect(res.status, `${r.method} ${r.path}`).toBe(403);
      expect(res.json.code).toBe("FORBIDDEN");
    }
    const mutations: Record<string, string> = {
      createRegistry: `createRegistry(input: {name: "evil", urls: ["https://evil.example"]}) { id }`,
      updateRegistry: `updateRegistry(name: "docker", input: {urls: ["https://evil.example"]}) { id }`,
      deleteRegistry: `deleteRegistry(name: "docker")`,
      triggerRound: `triggerRound(registry: "docker") { phase }`,
      pauseRegistry: `pauseRegistry(registry: "docker") { phase }`,
      resumeRegistry: `resumeRegistry(registry: "docker") { phase }`,
      resetGenerator: `resetGenerator(registry: "docker") { phase }`,
      syncRepository: `syncRepository(registry: "docker", repository: "library/alpine") { id }`,
      syncImage: `syncImage(registry: "docker", repository: "library/alpine", reference: "3") { id }`,
      cancelTask: `cancelTask(id: "1") { id }`,
      retryTask: `retryTask(id: "1") { id }`,
      createUser: `createUser(username: "mallory", password: "long enough password", role: admin) { id }`,
      updateUser: `updateUser(username: "vera", role: admin) { id }`,
      deleteUser: `deleteUser(username: "root")`,
      createToken: `createToken(name: "x", role: admin) { token }`,
      revokeToken: `revokeToken(id: "${tokens.admin!.id}") { id }`,
      testRegistryConnection: `testRegistryConnection(input: {name: "evil", urls: ["https://evil.example"]}) { ok }`,
      previewRegistry: `previewRegistry(input: {name: "evil", urls: ["https://evil.example"]}) { matched }`,
      promoteRepository: `promoteRepository(registry: "docker", repository: "library/alpine") { added }`,
      deleteTag: `deleteTag(repository: "library/alpine", tag: "3") { tag }`,
    };
    const schema = await readFile("graphql/schema.graphql", "utf8");
    const declared = [.../type Mutation \{([^}]*)\}/.exec(schema)![1]!.matchAll(/^\s+(\w+)\(/gm)].map((m) => m[1]);
    expect(Object.keys(mutations).sort()).toEqual(declared.sort());
    for (const [name, m] of Object.entries(mutations)) {
      const res = await gql(`mutation { ${m} }`, {}, { auth: viewer });
      expect(res.status, name).toBe(403);
      expect(res.json.errors[0].extensions.code, name).toBe("FORBIDDEN");
    }
    expect({ registry: await count("registry"), task: await count("task"), users: await count("user_account"), tokens: await count("api_token") }).toEqual(before);
    // Reads are fine for a viewer; user administration is not.
    expect((await api("GET", "/registries", { auth: viewer })).status).toBe(200);
    expect((await api("GET", "/users", { auth: viewer })).status).toBe(403);
    // The refusals are in the audit log.
    const audit = await api("GET", "/audit?actor=root&limit=200", { auth: tokens.admin!.token });
    expect(audit.json.items.some((e: { outcome: string; action: string }) => e.outcome === "denied" && e.action === "registry.delete")).toBe(true);
  });

  it("lets an operator pause, resume, sync, cancel and retry, with each change audited", async () => {
    const op = tokens.operator!.token;
    const paused = await api("POST", "/registries/docker/pause", { auth: op });
    expect(paused.status, paused.text).toBe(200);
    expect(paused.json).toMatchObject({ registryName: "docker", paused: true, phase: "paused" });
    expect((await api("POST", "/registries/docker/resume", { auth: op })).json.paused).toBe(false);
    const queued = await api("POST", "/registries/docker/images/sync", { auth: op, body: { repository: "library/alpine", reference: "3.20" } });
    expect(queued.status, queued.text).toBe(202);
    expect(queued.json).toMatchObject({ kind: "syncImage", status: "queued", registryName: "docker", trigger: "user:root" });
    const id = queued.json.id as string;
    const listed = await api("GET", `/tasks?registry=docker&status=queued&status=running&kind=syncImage`, { auth: op });
    expect(listed.json.items.map((t: { id: string }) => t.id)).toContain(id);
    const cancelled = await api("POST", `/tasks/${id}/cancel`, { auth: op });
    expect(cancelled.json.status).toBe("cancelled");
    expect((await api("POST", `/tasks/${id}/cancel`, { auth: op })).status).toBe(409);
    const retried = await api("POST", `/tasks/${id}/retry`, { auth: op });
    expect(retried.status).toBe(201);
    expect(retried.json.id).not.toBe(id);
    const detail = await api("GET", `/tasks/${retried.json.id}`, { auth: op });
    expect(detail.json).toMatchObject({ id: retried.json.id, events: [] });
    expect((await api("POST", "/registries/docker/reset", { auth: op })).status).toBe(200);
    // Operators cannot administer.
    expect((await api("DELETE", "/registries/docker", { auth: op })).status).toBe(403);

    // Cursor pagination walks every task exactly once.
    for (let i = 0; i < 4; i++) await api("POST", "/registries/docker/repositories/sync", { auth: op, body: { repository: `library/r${i}` } });
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Res = await api("GET", `/tasks?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { auth: op });
      ids.push(...page.json.items.map((t: { id: string }) => t.id));
      cursor = page.json.nextCursor;
    } while (cursor);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(await count("task"));

    const audit = await api("GET", "/audit?action=task.cancel", { auth: tokens.admin!.token });
    const outcomes = audit.json.items.map((e: { outcome: string; errorCode: string | null }) => [e.outcome, e.errorCode]);
    expect(outcomes.slice(0, 2)).toEqual([["failed", "CONFLICT"], ["success", null]]);
    // Before that: refusals (anonymous 401, the viewer's 403s over REST and GraphQL) are audited too.
    expect(outcomes.slice(2)).toEqual([["denied", "FORBIDDEN"], ["denied", "FORBIDDEN"], ["denied", "UNAUTHENTICATED"]]);
    expect(audit.json.items[1]).toMatchObject({ action: "task.cancel", actor: "root", via: "token", outcome: "success", target: `task:${id}`, tokenId: tokens.operator!.id });
  });

  it("answers GraphQL queries over the same operations", async () => {
    const res = await gql(
      `query Q($first: Int) { me { username role via } registries { name hasCredentials config generator { phase paused } }
        generators { registryName phase } tasks(first: $first, filter: { registry: "docker" }) { items { id status events { message } } nextCursor }
        repositories { items { repository } } audit(first: 5) { items { action outcome } } users { username role } tokens { name role prefix } }`,
      { first: 3 },
      { auth: tokens.admin!.token },
    );
    expect(res.status, res.text).toBe(200);
    expect(res.json.errors).toBeUndefined();
    expect(res.json.data.me).toEqual({ username: "root", role: "admin", via: "token" });
    expect(res.json.data.registries[0]).toMatchObject({ name: "docker", hasCredentials: true });
    expect(res.json.data.tasks.items).toHaveLength(3);
    const task = await gql(`query($id: ID!) { task(id: $id) { id kind status } }`, { id: res.json.data.tasks.items[0].id }, { auth: tokens.viewer!.token });
    expect(task.json.data.task.id).toBe(res.json.data.tasks.items[0].id);
    const paused = await gql(`mutation { pauseRegistry(registry: "docker") { paused } resumeRegistry(registry: "docker") { paused } }`, {}, { auth: tokens.operator!.token });
    expect(paused.json.data).toEqual({ pauseRegistry: { paused: true }, resumeRegistry: { paused: false } });
  });

  it("refuses an edit made from a stale version (If-Match, ifVersion) and says so; a change by anyone bumps the version", async () => {
    const auth = tokens.admin!.token;
    const body = (pollInterval: string) => ({ urls: ["https://quay.example"], pollInterval, content: [{ prefix: "team/**" }] });
    const created = await api("POST", "/registries", { auth, body: { name: "versioned", ...body("1h") } });
    expect(created.status, created.text).toBe(201);
    expect(created.json.version).toBe(1);
    expect(created.headers.get("etag")).toBe('"1"');
    const read = await api("GET", "/registries/versioned", { auth });
    expect(read.headers.get("etag")).toBe('"1"');
    const first = await api("PUT", "/registries/versioned", { auth, headers: { "if-match": '"1"' }, body: body("2h") });
    expect([first.status, first.json.version, first.headers.get("etag")]).toEqual([200, 2, '"2"']);
    // A second client still holding version 1: refused, and nothing changes.
    const stale = await api("PUT", "/registries/versioned", { auth, headers: { "if-match": '"1"' }, body: body("9h") });
    expect(stale.status, stale.text).toBe(412);
    expect(stale.headers.get("content-type")).toContain("application/problem+json");
    expect(stale.json).toMatchObject({ code: "PRECONDITION_FAILED", details: { expectedVersion: 1, currentVersion: 2 } });
    expect((await api("GET", "/registries/versioned", { auth })).json.config.pollInterval).toBe("2h");
    // A change made outside the API (psql, config-file apply) bumps it too; an UPDATE that changes nothing does not.
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(`UPDATE registry SET enabled = false WHERE name = 'versioned'`);
      await c.query(`UPDATE registry SET enabled = false WHERE name = 'versioned'`);
    } finally {
      await c.end();
    }
    expect((await api("GET", "/registries/versioned", { auth })).json).toMatchObject({ version: 3, enabled: false });
    const g = await gql(`mutation($v: Int) { updateRegistry(name: "versioned", input: { urls: ["https://quay.example"], pollInterval: "3h" }, ifVersion: $v) { version config } }`, { v: 2 }, { auth });
    expect(g.json.errors?.[0]?.extensions?.code).toBe("PRECONDITION_FAILED");
    const g2 = await gql(`mutation($v: Int) { updateRegistry(name: "versioned", input: { urls: ["https://quay.example"], pollInterval: "3h" }, ifVersion: $v) { version config } }`, { v: 3 }, { auth });
    expect(g2.json.data?.updateRegistry, g2.text).toMatchObject({ version: 4, config: { pollInterval: "3h" } });
    // Without a condition the edit applies (as before); a malformed one is a 400.
    expect((await api("PUT", "/registries/versioned", { auth, body: body("4h") })).json.version).toBe(5);
    const weak = await api("PUT", "/registries/versioned", { auth, headers: { "if-match": 'W/"5"' }, body: body("5h") });
    expect([weak.status, weak.json.code]).toEqual([400, "BAD_USER_INPUT"]);
    // DELETE takes the same condition.
    const staleDelete = await api("DELETE", "/registries/versioned", { auth, headers: { "if-match": '"4"' } });
    expect([staleDelete.status, staleDelete.json.code, staleDelete.json.details?.currentVersion]).toEqual([412, "PRECONDITION_FAILED", 5]);
    const gqlDelete = await gql(`mutation { deleteRegistry(name: "versioned", ifVersion: 4) }`, {}, { auth });
    expect(gqlDelete.json.errors?.[0]?.extensions?.code).toBe("PRECONDITION_FAILED");
    expect((await api("DELETE", "/registries/versioned", { auth, headers: { "if-match": '"5"' } })).status).toBe(200);
    expect((await api("DELETE", "/registries/versioned", { auth, headers: { "if-match": '"5"' } })).status).toBe(404);
  });

  it("shows a new registry's generator at once, though the generator list was just read", async () => {
    const admin = { auth: tokens.admin!.token };
    // Fill the generator snapshot cache, then add a registry: it has no generator row yet.
    expect((await gql("{ generators { registryName } }", {}, admin)).status).toBe(200);
    expect((await api("POST", "/registries", { ...admin, body: { name: "fresh-gen", urls: ["https://fresh.example.com"] } })).status).toBe(201);
    try {
      const res = await gql(`{ registry(name: "fresh-gen") { generator { registryName phase paused } } }`, {}, admin);
      expect(res.json.errors, res.text).toBeUndefined();
      expect(res.json.data.registry.generator).toMatchObject({ registryName: "fresh-gen", paused: false });
    } finally {
      expect((await api("DELETE", "/registries/fresh-gen", admin)).status).toBe(200);
    }
  });

  it("pushes generator changes to an SSE subscription", async () => {
    const ac = new AbortController();
    const res = await fetch(`${ferry.url}/api/graphql/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.viewer!.token}`, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: `subscription { generatorChanged(registry: "docker") { registryName paused } }` }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let buf = "";
    const got = (async () => {
      const decoder = new TextDecoder();
      while (!/"paused":true/.test(buf)) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value);
      }
      return buf;
    })();
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await api("POST", "/registries/docker/pause", { auth: tokens.operator!.token });
    const text = await Promise.race([got, new Promise<string>((r) => setTimeout(() => r("timeout"), 5000))]);
    expect(text).toMatch(/"registryName":"docker","paused":true/);
    expect(Date.now() - t0).toBeLessThan(1500);
    ac.abort();
    await reader.cancel().catch(() => {});
    await api("POST", "/registries/docker/resume", { auth: tokens.operator!.token });
  });

  it("refuses hostile input with a 4xx and a code, and changes nothing", async () => {
    const admin = tokens.admin!.token;
    const before = { registry: await count("registry"), users: await count("user_account") };
    const hostile: Array<[string, unknown, number, string]> = [
      ["deep nesting", `{ registries { generator { registryName } } ${"a: registries { ".repeat(12)}name${" }".repeat(12)} }`, 400, "QUERY_TOO_COMPLEX"],
      ["alias flood", `{ ${Array.from({ length: 500 }, (_, i) => `a${i}: me { username }`).join(" ")} }`, 400, "QUERY_TOO_COMPLEX"],
      ["huge page", `{ tasks(first: 100000) { items { id } } }`, 400, "BAD_USER_INPUT"],
      ["wrong type", `{ tasks(first: "ten") { items { id } } }`, 400, "GRAPHQL_VALIDATION_FAILED"],
      ["injection", `mutation { deleteRegistry(name: "docker'; DROP TABLE registry; --") }`, 400, "BAD_USER_INPUT"],
      ["injection in filter", `{ tasks(filter: { registry: "x' OR '1'='1" }) { items { id } } }`, 400, "BAD_USER_INPUT"],
    ];
    for (const [what, query, status, code] of hostile) {
      const res = await gql(query as string, {}, { auth: admin });
      expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBe(status);
      // Other validation errors may come along (a deep query is also an invalid one here).
      expect(res.json.errors.map((e: { extensions: { code: string } }) => e.extensions.code), what).toContain(code);
    }
    const tokenBomb = await gql(`{ ${"me { username } ".repeat(3000)} }`, {}, { auth: admin });
    expect(tokenBomb.status).toBe(400);

    const rest: Array<[string, string, Parameters<typeof call>[2], number, string]> = [
      ["GET", `/registries/${encodeURIComponent("docker'; DROP TABLE registry; --")}`, {}, 400, "BAD_USER_INPUT"],
      ["GET", "/tasks?limit=100000", {}, 400, "BAD_USER_INPUT"],
      ["GET", "/tasks?status=exploded", {}, 400, "BAD_USER_INPUT"],
      ["GET", "/tasks?cursor=1%20OR%201=1", {}, 400, "BAD_USER_INPUT"],
      ["GET", "/tasks?unknown=1", {}, 400, "BAD_USER_INPUT"],
      ["GET", "/tasks/99999999999999999999999", {}, 400, "BAD_USER_INPUT"],
      ["POST", "/registries", { body: { name: "x", urls: Array.from({ length: 30_000 }, (_, i) => `https://r${i}.example.com`) } }, 413, "PAYLOAD_TOO_LARGE"],
      ["POST", "/registries", { body: { name: ["not", "a", "string"], urls: 5 } }, 400, "CONFIG_INVALID"],
      ["POST", "/registries", { body: { name: "<script>alert(1)</script>", urls: ["https://x.example"] } }, 400, "CONFIG_INVALID"],
      ["POST", "/registries", { raw: "{not json", headers: { "content-type": "application/json" } }, 400, "BAD_USER_INPUT"],
      ["POST", "/registries", { raw: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }, 415, "UNSUPPORTED_MEDIA_TYPE"],
      ["POST", "/users", { body: { username: "../../etc/passwd", password: "long enough password", role: "admin" } }, 400, "BAD_USER_INPUT"],
      ["POST", "/users", { body: { username: "eve", password: "long enough password", role: "root" } }, 400, "BAD_USER_INPUT"],
      ["PATCH", "/users/root", { body: { role: "viewer" } }, 409, "CONFLICT"],
      ["POST", "/registries", { body: { name: "docker", urls: ["https://registry-1.docker.io"] } }, 409, "CONFLICT"],
      ["PUT", "/registries/docker", { body: { name: "renamed", urls: ["https://registry-1.docker.io"] } }, 400, "BAD_USER_INPUT"],
      ["DELETE", "/registries", {}, 405, "METHOD_NOT_ALLOWED"],
      ["GET", "/nope", {}, 404, "NOT_FOUND"],
    ];
    for (const [method, p, init, status, code] of rest) {
      const res = await api(method, p, { auth: admin, ...init });
      expect(res.status, `${method} ${p.slice(0, 60)}: ${res.text.slice(0, 300)}`).toBe(status);
      expect(res.json).toMatchObject({ status, code, type: expect.stringMatching(/^urn:ferry:error:/), title: expect.any(String), detail: expect.any(String) });
    }
    expect({ registry: await count("registry"), users: await count("user_account") }).toEqual(before);
  });

  it("revokes a token at once", async () => {
    const t = tokens.operator!;
    expect((await api("GET", "/tasks", { auth: t.token })).status).toBe(200);
    const revoked = await api("DELETE", `/tokens/${t.id}`, { session: true, headers: { "x-csrf-token": csrf } });
    expect(revoked.status).toBe(200);
    expect(revoked.json.revokedAt).toBeTruthy();
    expect((await api("GET", "/tasks", { auth: t.token })).status).toBe(401);
    expect((await gql("{ me { username } }", {}, { auth: t.token })).status).toBe(401);
  });

  it("publishes an OpenAPI 3.1 document that matches the routes", async () => {
    const res = await api("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.json;
    expect(doc.openapi).toBe("3.1.0");
    // Every $ref resolves.
    const refs = [...res.text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    for (const r of refs) expect(doc.components.schemas[r], r).toBeDefined();
    // The document lists exactly the routes the router serves.
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.filter((d) => d !== "GET /openapi.json").sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    // Walk it: every operation exists (no 404 "no API route", no 405), every GET answers in its documented shape.
    const ids: Record<string, string> = { name: "docker", username: "root" };
    const task = await api("GET", "/tasks?limit=1", { auth: tokens.admin!.token });
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, { operationId: string; security?: unknown[]; responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const concrete = p.replace("{name}", ids.name!).replace("{username}", ids.username!).replace("{id}", p.startsWith("/tokens") ? tokens.viewer!.id : task.json.items[0].id);
        const def = ROUTES.find((r) => r.path === p && r.method === method.toUpperCase());
        if (method === "get") {
          const r = await api("GET", concrete, { auth: tokens.admin!.token });
          expect(Object.keys(op.responses), op.operationId).toContain(String(r.status));
          // A GET that needs a query parameter (getRepository) answers 400 here: a problem, not its success shape.
          if (def && r.status < 400) {
            const parsed = def.response.safeParse(r.json);
            expect(parsed.success, `${op.operationId}: ${parsed.error?.message}`).toBe(true);
          }
        } else {
          // Without credentials: a guarded operation is 401, a public one rejects the empty body.
          const r = await api(method.toUpperCase(), concrete, { body: {} });
          if (op.security?.length === 0) expect([200, 400], `${method} ${p}`).toContain(r.status);
          else expect(r.status, `${method} ${p}`).toBe(401);
        }
      }
    }
  });

  it("logs out, and never shows a stored password or token in any response or log line", async () => {
    const out = await api("DELETE", "/session", { session: true, headers: { "x-csrf-token": csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/Max-Age=0/);
    expect((await api("GET", "/session", { session: true })).status).toBe(401);

    const secrets = [ADMIN_PASSWORD, UPSTREAM_PASSWORD, VIEWER_PASSWORD, OPERATOR_PASSWORD, ...Object.values(tokens).map((t) => t.token), cookie.split("=")[1]!];
    const logs = ferry.output();
    expect(logs.length).toBeGreaterThan(0);
    for (const s of secrets) {
      for (const body of seen) expect(body.includes(s), `response contains a secret: ${body.slice(0, 200)}`).toBe(false);
      expect(logs.includes(s), "log contains a secret").toBe(false);
    }
  });
});
