/**
 * Issue 9's promotion and issue 7's deleteTag and url health, over HTTP against a running Ferry
 * with a real docker-registry upstream:
 *   - an on-demand-only rule (`periodic: false`) keeps the upstream out of rounds;
 *   - a repository pulled on demand through /v2 is promoted (REST and GraphQL, idempotent), and
 *     the next round syncs its other tags and no other upstream repository;
 *   - promotion needs a pollInterval (CONFLICT) and an admin;
 *   - deleteTag takes a tag out of /v2 and the sync state, a round brings it back, viewers get 403;
 *   - each registry url's health is UP with the upstream's rate-limit remaining, and DOWN (with
 *     the cause) once that upstream stops.
 * The upstream for the health checks sits behind a tiny proxy adding `RateLimit-Remaining`:
 * docker-registry never sends one, Docker Hub does.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { MT, pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { waitFor } from "../../helpers/wait";

const ADMIN_PASSWORD = `admin-pw-${randomBytes(8).toString("hex")}`;

interface Res {
  status: number;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Forwards to `target`, adding the rate-limit header Docker Hub sends. */
async function startRateLimitProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const up = new URL(target);
  const server = http.createServer((req, res) => {
    const fwd = http.request({ host: up.hostname, port: up.port, path: req.url, method: req.method, headers: { ...req.headers, host: up.host } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, { ...ur.headers, "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "42;w=21600" });
      ur.pipe(res);
    });
    fwd.on("error", () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.skipIf(!registryAvailable())("promotion, deleteTag and url health over HTTP", () => {
  let tmp: string;
  let registry: TestRegistry;
  let proxy: { url: string; close(): Promise<void> };
  let db: TestDatabase;
  let ferry: FerryProcess;
  const tokens: Record<"admin" | "operator" | "viewer", string> = { admin: "", operator: "", viewer: "" };

  async function call(method: string, url: string, init: { body?: unknown; auth?: string; headers?: Record<string, string> } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.auth) headers.authorization = `Bearer ${init.auth}`;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(ferry.url + url, { method, headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}), signal: AbortSignal.timeout(60_000) });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, text, json };
  }
  const api = (method: string, p: string, auth: string, body?: unknown) => call(method, `/api/v1${p}`, { auth, ...(body !== undefined ? { body } : {}) });
  const gql = (query: string, auth: string) => call("POST", "/api/graphql", { auth, body: { query } });
  const manifest = (repo: string, ref: string) => call("GET", `/v2/${repo}/manifests/${ref}`, { headers: { accept: `${MT.ociManifest}, ${MT.ociIndex}` } });

  async function sqlRows<T extends pg.QueryResultRow>(text: string, ...params: unknown[]): Promise<T[]> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query<T>(text, params)).rows;
    } finally {
      await c.end();
    }
  }

  /** Waits for round `n` of a registry to end; returns the upstream repositories it synced. */
  async function roundRepos(registryName: string, n: number): Promise<string[]> {
    await waitFor(`round ${n} of ${registryName} to end`, async () => {
      const g = await api("GET", `/registries/${registryName}/generator`, tokens.viewer);
      const ended = g.json.roundEndedAt && Date.parse(g.json.roundEndedAt) >= Date.parse(g.json.roundStartedAt);
      return g.json.round >= n && ended && g.json.runningTasks === 0 ? g.json : null;
    }, 120_000, 200);
    const t = await api("GET", `/tasks?registry=${registryName}&kind=syncRepo&limit=200`, tokens.viewer);
    const round = t.json.items.filter((x: { trigger: string }) => x.trigger === `generator:round-${n}`);
    expect(round.every((x: { status: string }) => x.status === "succeeded"), JSON.stringify(round)).toBe(true);
    return round.map((x: { repository: string }) => x.repository).sort();
  }

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-promote-"));
    await chmod(tmp, 0o755);
    registry = await startRegistry();
    for (const tag of ["v1", "v2", "v3"]) await pushImage(registry, "hub/app", tag, { layers: [2048] });
    await pushImage(registry, "hub/other", "v1", { layers: [2048] });
    await pushImage(registry, "team/x", "1", { layers: [1024] });
    for (const tag of ["1", "2"]) await pushImage(registry, "per/img", tag, { layers: [1024] });
    proxy = await startRateLimitProxy(registry.url);
    db = await createTestDatabase();
    ferry = await startFerry({
      DATABASE_URL: db.url,
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_STORE_DIR: path.join(tmp, "store"),
      FERRY_WORKERS: "2",
      FERRY_GENERATOR_TICK_MS: "200",
      FERRY_ADMIN_USER: "root",
      FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
      FERRY_SECRET_KEY: randomBytes(32).toString("hex"),
    });
    const res = await fetch(`${ferry.url}/api/v1/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "root", password: ADMIN_PASSWORD }) });
    expect(res.status).toBe(201);
    const session = { cookie: res.headers.get("set-cookie")!.split(";")[0]!, csrf: ((await res.json()) as { csrfToken: string }).csrfToken };
    for (const role of ["admin", "operator", "viewer"] as const) {
      const t = await call("POST", "/api/v1/tokens", { headers: { cookie: session.cookie, "x-csrf-token": session.csrf }, body: { name: `${role} bot`, role } });
      expect(t.status, t.text).toBe(201);
      tokens[role] = t.json.token;
    }
  }, 900_000);

  afterAll(async () => {
    await ferry?.stop();
    await db?.drop();
    await proxy?.close().catch(() => undefined);
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("keeps an on-demand-only rule out of rounds, and promotes a repository pulled on demand into them", async () => {
    const created = await api("POST", "/registries", tokens.admin, {
      name: "up",
      urls: [proxy.url],
      onDemand: true,
      pollInterval: "1h",
      manifestCheckInterval: "1h",
      content: [{ prefix: "team/**" }, { prefix: "**", destination: "od", periodic: false }],
    });
    expect(created.status, created.text).toBe(201);
    // Round 1: the periodic rule only; the on-demand "**" drags nothing in.
    expect(await roundRepos("up", 1)).toEqual(["team/x"]);

    const pulled = await manifest("od/hub/app", "v1");
    expect(pulled.status, pulled.text).toBe(200);
    const before = await api("GET", "/repositories?registry=up", tokens.viewer);
    expect(before.json.items.map((r: { repository: string; upstreamRepo: string; periodic: boolean }) => [r.repository, r.upstreamRepo, r.periodic])).toEqual([
      ["od/hub/app", "hub/app", false],
      ["team/x", "team/x", true],
    ]);

    // Only an admin may promote: a registry edit.
    for (const who of ["viewer", "operator"] as const) {
      const denied = await api("POST", "/registries/up/promote", tokens[who], { repository: "od/hub/app" });
      expect(denied.status, who).toBe(403);
      expect(denied.json.code).toBe("FORBIDDEN");
    }
    const g403 = await gql(`mutation { promoteRepository(registry: "up", repository: "od/hub/app") { added } }`, tokens.operator);
    expect(g403.json.errors[0].extensions.code).toBe("FORBIDDEN");

    const promoted = await api("POST", "/registries/up/promote", tokens.admin, { repository: "od/hub/app" });
    expect(promoted.status, promoted.text).toBe(200);
    expect(promoted.json).toMatchObject({ repository: "od/hub/app", upstreamRepository: "hub/app", added: true, rule: { prefix: "hub/app", destination: "od/hub/app", stripPrefix: true, periodic: true } });
    // Before the catch-all that served it, after the rule that came first.
    expect(promoted.json.registry.config.content.map((r: { prefix: string }) => r.prefix)).toEqual(["team/**", "hub/app", "**"]);
    const again = await api("POST", "/registries/up/promote", tokens.admin, { repository: "od/hub/app" });
    expect(again.json).toMatchObject({ added: false, rule: { prefix: "hub/app" } });
    const viaGql = await gql(`mutation { promoteRepository(registry: "up", repository: "od/hub/app") { added upstreamRepository rule registry { name } } }`, tokens.admin);
    expect(viaGql.json.data.promoteRepository).toMatchObject({ added: false, upstreamRepository: "hub/app", registry: { name: "up" } });
    expect((await api("GET", "/registries/up", tokens.admin)).json.config.content).toHaveLength(3);
    const unmapped = await api("POST", "/registries/up/promote", tokens.admin, { repository: "nothing/here" });
    expect(unmapped.status).toBe(404);

    const trigger = await api("POST", "/registries/up/sync", tokens.operator);
    expect(trigger.status, trigger.text).toBe(202);
    // Round 2 syncs the promoted repository (all its tags) and still not the rest of the upstream.
    expect(await roundRepos("up", 2)).toEqual(["hub/app", "team/x"]);
    const tags = await call("GET", "/v2/od/hub/app/tags/list");
    expect(tags.json.tags).toEqual(["v1", "v2", "v3"]);
    const states = await sqlRows<{ upstream_repo: string }>(`SELECT DISTINCT upstream_repo FROM tag_sync_state ORDER BY 1`);
    expect(states.map((s) => s.upstream_repo)).toEqual(["hub/app", "team/x"]);
    const after = await api("GET", "/repositories?registry=up", tokens.viewer);
    expect(after.json.items.find((r: { repository: string }) => r.repository === "od/hub/app")).toMatchObject({ periodic: true, tagCount: 3 });

    const audit = await api("GET", "/audit?action=registry.promote&limit=50", tokens.admin);
    const outcomes = audit.json.items.map((e: { outcome: string; target: string }) => `${e.outcome} ${e.target}`);
    expect(outcomes).toEqual(expect.arrayContaining(["success up/od/hub/app", "denied up/od/hub/app", "failed up/nothing/here"]));
  });

  it("refuses to promote on a registry without pollInterval, with a message that says so", async () => {
    const created = await api("POST", "/registries", tokens.admin, { name: "nopoll", urls: [registry.url], onDemand: true, content: [{ prefix: "np/**" }] });
    expect(created.status, created.text).toBe(201);
    const res = await api("POST", "/registries/nopoll/promote", tokens.admin, { repository: "np/app" });
    expect(res.status).toBe(409);
    expect(res.json.code).toBe("CONFLICT");
    expect(res.json.detail).toMatch(/pollInterval/);
    const g = await gql(`mutation { promoteRepository(registry: "nopoll", repository: "np/app") { added } }`, tokens.admin);
    expect(g.json.errors[0].extensions.code).toBe("CONFLICT");
    const bad = await api("POST", "/registries/nopoll/promote", tokens.admin, { repository: "../etc" });
    expect(bad.status).toBe(400);
    expect((await api("GET", "/registries/nopoll", tokens.admin)).json.config.content).toEqual([{ prefix: "np/**" }]);
  });

  it("deletes a mirrored tag from /v2 and the sync state; the next round brings it back while a rule selects it", async () => {
    const created = await api("POST", "/registries", tokens.admin, { name: "per", urls: [registry.url], pollInterval: "1h", content: [{ prefix: "per/**" }] });
    expect(created.status, created.text).toBe(201);
    expect(await roundRepos("per", 1)).toEqual(["per/img"]);
    const detail = await api("GET", "/registries/per/repository?repository=per/img", tokens.viewer);
    expect(detail.json).toMatchObject({ upstreamRepo: "per/img", periodic: true, storeBytes: expect.any(Number) });
    expect(detail.json.storeBytes).toBeGreaterThan(2048);
    const digest = detail.json.tags[0].digest as string;
    expect(detail.json.tags[0].tag).toBe("1");
    expect(digest).toMatch(/^sha256:/);
    expect((await manifest("per/img", "1")).status).toBe(200);
    const listed = await gql(`{ repositories(registry: "per") { items { repository upstreamRepo periodic size storeBytes tags { tag digest size platforms lastSyncedAt referrers { digest artifactType } } } } }`, tokens.viewer);
    const item = listed.json.data.repositories.items[0];
    expect(item).toMatchObject({ repository: "per/img", upstreamRepo: "per/img", periodic: true, storeBytes: detail.json.storeBytes });
    expect(item.tags.map((t: { tag: string; size: number; referrers: unknown[] }) => [t.tag, t.size > 1024, t.referrers])).toEqual([
      ["1", true, []],
      ["2", true, []],
    ]);
    expect(item.tags[0].digest).toBe(digest);

    const denied = await api("DELETE", "/repositories/per%2Fimg/tags/1", tokens.viewer);
    expect(denied.status).toBe(403);
    const gDenied = await gql(`mutation { deleteTag(repository: "per/img", tag: "1") { tag } }`, tokens.viewer);
    expect(gDenied.json.errors[0].extensions.code).toBe("FORBIDDEN");
    expect((await manifest("per/img", "1")).status).toBe(200);

    const del = await api("DELETE", "/repositories/per%2Fimg/tags/1", tokens.operator);
    expect(del.status, del.text).toBe(200);
    expect(del.json).toEqual({ repository: "per/img", tag: "1", digest, registries: ["per"] });
    const gone = await manifest("per/img", "1");
    expect(gone.status).toBe(404);
    expect((await call("GET", "/v2/per/img/tags/list")).json.tags).toEqual(["2"]);
    expect(await sqlRows(`SELECT tag FROM tag_sync_state WHERE repository = 'per/img' ORDER BY tag`)).toEqual([{ tag: "2" }]);
    // The other tag is untouched; a missing tag is NOT_FOUND on both faces.
    expect((await manifest("per/img", "2")).status).toBe(200);
    const missing = await api("DELETE", "/repositories/per%2Fimg/tags/1", tokens.operator);
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("NOT_FOUND");
    const gMissing = await gql(`mutation { deleteTag(repository: "per/img", tag: "nope") { tag } }`, tokens.operator);
    expect(gMissing.json.errors[0].extensions.code).toBe("NOT_FOUND");
    const audit = await api("GET", "/audit?action=tag.delete&limit=50", tokens.admin);
    expect(audit.json.items.map((e: { outcome: string; target: string }) => `${e.outcome} ${e.target}`)).toEqual(
      expect.arrayContaining(["success per/img:1", "denied per/img:1", "failed per/img:1", "failed per/img:nope"]),
    );

    // Rules still select it: the next round copies it again.
    expect((await api("POST", "/registries/per/sync", tokens.operator)).status).toBe(202);
    expect(await roundRepos("per", 2)).toEqual(["per/img"]);
    expect((await manifest("per/img", "1")).status).toBe(200);
    // GraphQL deletes it too.
    const g = await gql(`mutation { deleteTag(repository: "per/img", tag: "1") { repository tag digest registries } }`, tokens.operator);
    expect(g.json.data.deleteTag).toEqual({ repository: "per/img", tag: "1", digest, registries: ["per"] });
    expect((await manifest("per/img", "1")).status).toBe(404);
  });

  it("shows each url's health and rate-limit remaining, and DOWN with the cause once the upstream stops", async () => {
    const health = async (name: string) => (await api("GET", `/registries/${name}`, tokens.viewer)).json.urlHealth;
    const up = await waitFor("up's url to be UP", async () => {
      const h = await health("up");
      return h[0]?.status === "UP" && h[0].rateLimitRemaining === 42 ? h : null;
    }, 30_000, 200);
    expect(up).toEqual([{ url: proxy.url, status: "UP", lastCheckedAt: expect.any(String), lastError: null, rateLimitRemaining: 42 }]);
    expect((await health("per"))[0]).toMatchObject({ url: registry.url, status: "UP", rateLimitRemaining: null });
    const g = await gql(`{ registries { name urlHealth { url status lastCheckedAt lastError rateLimitRemaining } } }`, tokens.viewer);
    expect(g.json.data.registries.find((r: { name: string }) => r.name === "up").urlHealth).toEqual(up.map((h: Record<string, unknown>) => ({ ...h, lastCheckedAt: expect.any(String) })));

    await proxy.close();
    // Something has to talk to it: an on-demand pull of an image that is not mirrored.
    const failed = await manifest("od/hub/other", "v1");
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const down = await waitFor("up's url to be DOWN", async () => {
      const h = await health("up");
      return h[0]?.status === "DOWN" ? h[0] : null;
    }, 30_000, 200);
    expect(down.lastError).toMatch(/ECONNREFUSED/);
    expect(down.rateLimitRemaining).toBe(42); // the last value the upstream reported
    expect(Date.parse(down.lastCheckedAt)).toBeGreaterThan(Date.parse(up[0].lastCheckedAt));
    expect((await health("per"))[0].status).toBe("UP");
    // Another process on the same database (it made none of these requests) answers the same.
    await ensureBuilt(process.cwd(), () => {}); // another checkout user may have rebuilt meanwhile
    const other = await startFerry({ DATABASE_URL: db.url, FERRY_DATA_DIR: path.join(tmp, "data"), FERRY_STORE_DIR: path.join(tmp, "store"), FERRY_WORKERS: "0" });
    try {
      const res = await fetch(`${other.url}/api/v1/registries/up`, { headers: { authorization: `Bearer ${tokens.viewer}` } });
      // (Its lastCheckedAt may be newer: the failed on-demand sync's retries keep observing.)
      const seen = ((await res.json()) as { urlHealth: Array<{ lastCheckedAt: string }> }).urlHealth;
      expect(seen).toEqual([{ ...down, lastCheckedAt: expect.any(String) }]);
      expect(Date.parse(seen[0]!.lastCheckedAt)).toBeGreaterThanOrEqual(Date.parse(down.lastCheckedAt));
    } finally {
      await other.stop();
    }
    // A url nothing talked to is UNKNOWN.
    const fresh = await api("POST", "/registries", tokens.admin, { name: "fresh", urls: ["http://127.0.0.1:9"], content: [{ prefix: "f/**" }] });
    expect(fresh.json.urlHealth).toEqual([{ url: "http://127.0.0.1:9", status: "UNKNOWN", lastCheckedAt: null, lastError: null, rateLimitRemaining: null }]);
  });
});
