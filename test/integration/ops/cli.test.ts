/**
 * The `ferry` CLI end to end: `node scripts/ferry.mjs …` as a child process against a running
 * Ferry mirroring a real docker-registry (through a proxy that slows blobs down so a task can be
 * watched progressing), plus the commands that read files or the store directly.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { ferryCli, startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";

const ADMIN_PASSWORD = `admin-${randomBytes(8).toString("hex")}`;
const UPSTREAM_PASSWORD = `upstream-${randomBytes(8).toString("hex")}`;

describe.skipIf(!registryAvailable())("ferry CLI", () => {
  let tmp: string;
  let registry: TestRegistry;
  let proxy: UpstreamProxy;
  let tdb: TestDatabase;
  let ferry: FerryProcess;
  let token: string;
  let storeDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-cli-"));
    await chmod(tmp, 0o755);
    registry = await startRegistry();
    const big = await pushImage(registry, "apps/big", "1.0", { layers: [262_144, 131_072, 65_536, 32_768] });
    await pushImage(registry, "apps/small", "1.0", { layers: [1024] });
    proxy = await startUpstreamProxy(registry.url);
    // Blobs arrive one after another, 0.8 s apart, so the task's bytes visibly grow.
    const delays = new Map(big.blobs.map((b, i) => [`/v2/apps/big/blobs/${b.digest}`, 800 * (i + 1)]));
    proxy.delay = (method, p) => (method === "GET" ? (delays.get(p) ?? 0) : 0);
    const configFile = path.join(tmp, "ferry.config.json");
    await writeFile(configFile, JSON.stringify({ registries: [{ name: "hub", urls: [proxy.url], tlsVerify: false, maxRetries: 0, content: [{ prefix: "apps/**" }] }] }));
    tdb = await createTestDatabase();
    storeDir = path.join(tmp, "store");
    ferry = await startFerry({
      DATABASE_URL: tdb.url,
      FERRY_CONFIG: configFile,
      FERRY_STORE_DIR: storeDir,
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_WORKERS: "2",
      // Progress reaches the database with each lease renewal (a third of the lease).
      FERRY_TASK_LEASE_MS: "900",
      FERRY_ADMIN_USER: "root",
      FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
    });
    const login = await fetch(`${ferry.url}/api/v1/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "root", password: ADMIN_PASSWORD }) });
    const session = (await login.json()) as { csrfToken: string };
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const created = await fetch(`${ferry.url}/api/v1/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, "x-csrf-token": session.csrfToken },
      body: JSON.stringify({ name: "cli", role: "admin" }),
    });
    expect(created.status).toBe(201);
    token = ((await created.json()) as { token: string }).token;
    env = { FERRY_URL: ferry.url, FERRY_TOKEN: token };
  }, 600_000);

  afterAll(async () => {
    await ferry?.stop();
    await tdb?.drop();
    await proxy?.close();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("queues an image sync and follows the task, with progress, to completion", async () => {
    const queued = await ferryCli(["sync", "image", "hub/apps/big:1.0"], env);
    expect(queued.code, queued.stderr).toBe(0);
    const id = /^task (\d+) /.exec(queued.stdout)?.[1];
    expect(id, queued.stdout).toBeDefined();
    const follow = await ferryCli(["tasks", "--follow", id!, "--interval", "100ms"], env);
    expect(follow.code, follow.stderr).toBe(0);
    const lines = follow.stdout.trim().split("\n");
    // Several lines: the task was seen running with bytes moving, then succeeded with a full bar.
    expect(lines.some((l) => / running /.test(l))).toBe(true);
    const sizes = lines.filter((l) => / running /.test(l)).map((l) => /% +(\S+ \S*B)\//.exec(l)?.[1]);
    expect(new Set(sizes).size, follow.stdout).toBeGreaterThan(1);
    expect(lines.at(-1)).toMatch(new RegExp(`^#${id}\\s+succeeded\\s+syncImage\\s+\\[#{24}\\] 100%.*hub/apps/big:1\\.0`));
  });

  it("sync repo --wait, tasks and status", async () => {
    const r = await ferryCli(["sync", "repo", "hub", "apps/small", "--wait"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/succeeded\s+syncRepo/);
    const list = await ferryCli(["tasks"], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/syncImage.*hub\/apps\/big:1\.0/);
    expect(list.stdout).toMatch(/syncRepo.*hub\/apps\/small/);
    const status = await ferryCli(["status"], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/queue: 0 queued, 0 running/);
  });

  it("fails clearly: no token, wrong token, unknown registry, unreachable Ferry, bad usage", async () => {
    const noToken = await ferryCli(["status"], { FERRY_URL: ferry.url });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/no API token/);
    const wrong = await ferryCli(["status"], { FERRY_URL: ferry.url, FERRY_TOKEN: "ferry_wrong-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/401 UNAUTHENTICATED/);
    const unknown = await ferryCli(["sync", "repo", "nope", "apps/small"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404 NOT_FOUND.*nope/);
    const down = await ferryCli(["status", "--url", "http://127.0.0.1:9"], { FERRY_TOKEN: token });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach Ferry/);
    const usage = await ferryCli(["sync", "image"], env);
    expect(usage.code).toBe(2);
    expect((await ferryCli(["frobnicate"], env)).code).toBe(2);
  });

  it("config export writes the registries and webhooks without secrets; validate and import-zot read files", async () => {
    await fetch(`${ferry.url}/api/v1/registries`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: "private", urls: ["https://private.example"], credentials: { username: "bot", password: UPSTREAM_PASSWORD } }),
    });
    const exported = await ferryCli(["config", "export"], env);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).not.toContain(UPSTREAM_PASSWORD);
    const doc = parseYaml(exported.stdout) as { registries: Array<{ name: string }> };
    expect(doc.registries.map((r) => r.name).sort()).toEqual(["hub", "private"]);
    // The export is itself a valid config.
    const file = path.join(tmp, "exported.yaml");
    await writeFile(file, exported.stdout);
    const valid = await ferryCli(["config", "validate", file]);
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stdout).toMatch(/ok: .*2 registries \(hub, private\)/);

    // Webhooks come from the config file (the API never shows them): secretEnv is kept, an inline
    // secret is replaced by a variable to set, said on stderr, and neither output shows it.
    const INLINE_SECRET = `inline-${randomBytes(12).toString("hex")}`;
    const withAlerts = path.join(tmp, "with-alerts.json");
    await writeFile(
      withAlerts,
      JSON.stringify({
        alerts: {
          evaluateInterval: "5s",
          webhooks: [
            { name: "oncall", url: "https://hooks.example/oncall", secretEnv: "ONCALL_SECRET", failureAfter: 3 },
            { name: "chat.ops", url: "https://hooks.example/chat", secret: INLINE_SECRET, events: ["failure"], retryDelay: "30s" },
          ],
        },
      }),
    );
    const withHooks = await ferryCli(["config", "export", withAlerts, "--format", "json"], env);
    expect(withHooks.code, withHooks.stderr).toBe(0);
    expect(withHooks.stdout + withHooks.stderr).not.toContain(INLINE_SECRET);
    const hooksDoc = JSON.parse(withHooks.stdout) as { registries: Array<{ name: string }>; alerts: unknown };
    expect(hooksDoc.registries.map((r) => r.name).sort()).toEqual(["hub", "private"]);
    expect(hooksDoc.alerts).toEqual({
      evaluateInterval: "5s",
      webhooks: [
        { name: "oncall", url: "https://hooks.example/oncall", secretEnv: "ONCALL_SECRET", failureAfter: 3 },
        { name: "chat.ops", url: "https://hooks.example/chat", secretEnv: "FERRY_ALERT_SECRET_CHAT_OPS", events: ["failure"], retryDelay: "30s" },
      ],
    });
    expect(withHooks.stderr).toMatch(/webhook chat\.ops: its inline secret was omitted .*FERRY_ALERT_SECRET_CHAT_OPS/);
    expect(withHooks.stderr).not.toMatch(/webhook oncall/);
    const hooksFile = path.join(tmp, "exported-alerts.json");
    await writeFile(hooksFile, withHooks.stdout);
    const secrets = { ONCALL_SECRET: "s".repeat(24), FERRY_ALERT_SECRET_CHAT_OPS: "t".repeat(24) };
    const hooksValid = await ferryCli(["config", "validate", hooksFile], secrets);
    expect(hooksValid.code, hooksValid.stderr).toBe(0);
    // Until the omitted secret is provided, the export does not start with a made-up key.
    const unset = await ferryCli(["config", "validate", hooksFile], { ONCALL_SECRET: secrets.ONCALL_SECRET });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/FERRY_ALERT_SECRET_CHAT_OPS/);

    const zot = path.join(tmp, "zot.json");
    await writeFile(zot, JSON.stringify({ distSpecVersion: "1.1.0", storage: { rootDirectory: "/z" }, extensions: { sync: { registries: [{ urls: [proxy.url], onDemand: true, tlsVerify: false, content: [{ prefix: "apps/**", destination: "/mirror" }], bogus: 1 }] } } }));
    const imported = await ferryCli(["config", "import-zot", zot, "--format", "json"]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout).registries[0]).toMatchObject({ urls: [proxy.url], onDemand: true, content: [{ prefix: "apps/**", destination: "/mirror" }] });
    expect(imported.stderr).toMatch(/not mapped: extensions\.sync\.registries\[0\]\.bogus/);
    const zotValid = await ferryCli(["config", "validate", zot]);
    expect(zotValid.code, zotValid.stderr).toBe(0);
    expect(zotValid.stdout).toMatch(/zot config/);
    const bad = path.join(tmp, "bad.json");
    await writeFile(bad, JSON.stringify({ registries: [{ name: "x", urls: ["ftp://nope"] }] }));
    const invalid = await ferryCli(["config", "validate", bad]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/invalid registry "x": urls\[0\]/);
  });

  it("store verify and gc open the store directly", async () => {
    const verify = await ferryCli(["store", "verify", "--root", storeDir]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/2 repositories.*\nOK$|OK\n?$/m);
    const gc = await ferryCli(["store", "gc", "--root", storeDir, "--grace", "0s"]);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/^gc .*: 2 repositories, removed 0 links/);
    expect((await ferryCli(["store", "verify", "--root", path.join(tmp, "nothing")])).code).toBe(2);
  });
});
