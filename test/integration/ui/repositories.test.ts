/**
 * The repository page's controls in Debian's Chromium against a real Ferry and docker-registry:
 * an image pulled on demand shows "on demand only" and an admin promotes it (pending, then the
 * API's answer); "Delete tag" asks first, then the tag is gone from /v2; an operator sees Delete
 * but not Promote (an admin action), a viewer sees neither.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { MT, pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { waitFor } from "../../helpers/wait";
import { chromiumAvailable, launchChromium, screenshotDir, watchConsole } from "./browser";

const USERS = {
  admin: { username: "ada", password: `admin-${randomBytes(6).toString("hex")}` },
  operator: { username: "otto", password: `operator-${randomBytes(6).toString("hex")}` },
  viewer: { username: "vic", password: `viewer-${randomBytes(6).toString("hex")}` },
};

describe.skipIf(!registryAvailable() || !chromiumAvailable())("repository page controls in a real browser", () => {
  let tmp: string;
  let registry: TestRegistry;
  let tdb: TestDatabase;
  let ferry: FerryProcess;
  let browser: Browser;
  const consoleErrors: string[] = [];
  let adminToken = "";

  const rest = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${ferry.url}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const manifestStatus = async (repo: string, tag: string) => {
    const res = await fetch(`${ferry.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: MT.ociManifest } });
    await res.body?.cancel();
    return res.status;
  };
  async function pageAs(who: keyof typeof USERS): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    watchConsole(page, consoleErrors);
    await page.goto(`${ferry.url}/login`);
    await page.getByLabel("Username").fill(USERS[who].username);
    await page.getByLabel("Password").fill(USERS[who].password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${ferry.url}/`);
    await page.goto(`${ferry.url}/repositories/up/od/hub/app`);
    await page.waitForLoadState("load");
    return page;
  }

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-ui-repos-"));
    registry = await startRegistry();
    for (const tag of ["v1", "v2"]) await pushImage(registry, "hub/app", tag, { layers: [4096] });
    tdb = await createTestDatabase();
    ferry = await startFerry({
      DATABASE_URL: tdb.url,
      FERRY_STORE_DIR: path.join(tmp, "store"),
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_GENERATOR_TICK_MS: "200",
      FERRY_ADMIN_USER: USERS.admin.username,
      FERRY_ADMIN_PASSWORD: USERS.admin.password,
    });
    const login = await fetch(`${ferry.url}/api/v1/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(USERS.admin) });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const t = await fetch(`${ferry.url}/api/v1/tokens`, { method: "POST", headers: { cookie, "x-csrf-token": csrfToken, "content-type": "application/json" }, body: JSON.stringify({ name: "ui test", role: "admin" }) });
    adminToken = ((await t.json()) as { token: string }).token;
    for (const role of ["operator", "viewer"] as const) expect((await rest("POST", "/users", { ...USERS[role], role })).status).toBe(201);
    const created = await rest("POST", "/registries", { name: "up", urls: [registry.url], onDemand: true, pollInterval: "1h", content: [{ prefix: "**", destination: "od", periodic: false }] });
    expect(created.status).toBe(201);
    // Pulls see a new registry within a second (lib/mirror caches the registry list that long).
    for (const tag of ["v1", "v2"]) await waitFor(`on-demand pull of od/hub/app:${tag}`, async () => (await manifestStatus("od/hub/app", tag)) === 200, 20_000, 250);
    browser = await launchChromium();
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    await ferry?.stop("SIGTERM");
    await tdb?.drop();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("lets an admin promote an on-demand repository and delete a tag after confirming", async () => {
    const page = await pageAs("admin");
    const coverage = page.getByTestId("repo-coverage");
    expect(await coverage.textContent()).toBe("on demand only");
    await page.getByTestId("repo-promote").click();
    const feedback = page.locator(".action", { has: page.getByTestId("repo-promote") }).getByRole("status");
    await expect.poll(() => feedback.textContent()).toMatch(/Promoted: rounds now sync hub\/app/);
    expect(await coverage.textContent()).toBe("synced by periodic rounds");
    expect(await page.getByTestId("repo-promote").isDisabled()).toBe(true);
    expect((await rest("GET", "/registries/up")).json.config.content.map((r: { prefix: string }) => r.prefix)).toEqual(["hub/app", "**"]);

    // Dismissing the confirmation changes nothing.
    page.once("dialog", (d) => void d.dismiss());
    await page.getByTestId("delete-tag-v1").click();
    expect(await manifestStatus("od/hub/app", "v1")).toBe(200);
    page.once("dialog", (d) => {
      expect(d.message()).toContain("od/hub/app:v1");
      void d.accept();
    });
    await page.getByTestId("delete-tag-v1").click();
    const delFeedback = page.locator(".action", { has: page.getByTestId("delete-tag-v1") }).getByRole("status");
    await expect.poll(() => delFeedback.textContent()).toBe("Deleted");
    expect(await page.getByTestId("delete-tag-v1").isDisabled()).toBe(true);
    await page.screenshot({ path: path.join(screenshotDir(), "repository-promote-delete.png"), fullPage: true });
    // The registry is on demand, so a pull would fetch it again: look at the store's tag list.
    const tags = (await (await fetch(`${ferry.url}/v2/od/hub/app/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["v2"]);
    await page.context().close();
  });

  it("shows an operator Delete but not Promote, and a viewer neither", async () => {
    // A fresh on-demand repository, not promoted.
    await pushImage(registry, "hub/tool", "1", { layers: [1024] });
    expect(await manifestStatus("od/hub/tool", "1")).toBe(200);
    for (const [who, del] of [["operator", 1], ["viewer", 0]] as const) {
      const page = await pageAs(who);
      await page.goto(`${ferry.url}/repositories/up/od/hub/tool`);
      await page.waitForLoadState("load");
      expect(await page.getByTestId("repo-coverage").textContent(), who).toBe("on demand only");
      expect(await page.getByTestId("repo-promote").count(), who).toBe(0);
      expect(await page.getByRole("button", { name: "Delete tag" }).count(), who).toBe(del);
      await page.context().close();
    }
    expect(consoleErrors).toEqual([]);
  });
});
