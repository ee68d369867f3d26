/**
 * The dashboard end to end, in Debian's Chromium against a real Ferry process and a real
 * docker-registry upstream: first-run setup, sign-in, creating a registry through the form (an
 * invalid URL is reported inline, from the API's validation), the content-rules dry run, a round
 * watched live on the overview and the task list without reloading, the task page's per-tag
 * outcomes, the repository browser with its pull command, cancel and retry, and a viewer who finds
 * no mutating controls. Screenshots of each page go to `screenshotDir()`; the "Lighthouse basics"
 * (no console errors, labelled fields, keyboard reachability) are checked on the way.
 */
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";
import { TLS } from "../../helpers/tls-fixtures";
import { chromiumAvailable, launchChromium, screenshotDir, unlabelledFields, unreachableByKeyboard, watchConsole } from "./browser";

const ADMIN = { username: "ada", password: "correct horse battery staple" };
const VIEWER = { username: "vic", password: "viewer password 123" };

describe.skipIf(!registryAvailable() || !chromiumAvailable())("dashboard in a real browser", () => {
  let tmp: string;
  let registry: TestRegistry;
  /** A second upstream for the "slow" registry, behind a proxy that holds one blob of slow/big so its task stays running. */
  let slowRegistry: TestRegistry;
  let slowProxy: UpstreamProxy;
  let tdb: TestDatabase;
  let ferry: FerryProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  const shots = screenshotDir();

  const shot = async (name: string, p: Page = page) => {
    await p.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  };
  const go = async (p: string) => {
    await page.goto(`${ferry.url}${p}`);
    await page.waitForLoadState("load");
  };
  const login = async (who: { username: string; password: string }) => {
    await go("/login");
    await page.getByLabel("Username").fill(who.username);
    await page.getByLabel("Password").fill(who.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${ferry.url}/`);
  };
  /** A REST call as the signed-in browser user (session cookie and CSRF token of the page). */
  const apiAs = <T = unknown>(p: Page, method: string, url: string, body?: unknown): Promise<{ status: number; json: T }> =>
    p.evaluate(
      async ([method, url, body]) => {
        const csrf = document.querySelector<HTMLMetaElement>('meta[name="ferry-csrf"]')?.content ?? "";
        const res = await fetch(`/api/v1${url}`, { method, headers: { "content-type": "application/json", "x-csrf-token": csrf }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        return { status: res.status, json: await res.json().catch(() => null) };
      },
      [method, url, body] as const,
    ) as Promise<{ status: number; json: T }>;
  const logout = async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login/);
  };

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-ui-"));
    registry = await startRegistry();
    for (const tag of ["1.0", "1.1", "latest"]) await pushImage(registry, "team/app", tag, { layers: [200_000, 4096] });
    await pushImage(registry, "team/tool", "1.0", { layers: [50_000] });
    await pushImage(registry, "other/thing", "2.0", { layers: [1024] });
    slowRegistry = await startRegistry();
    const big = await pushImage(slowRegistry, "slow/big", "1.0", { layers: [600_000, 4096] });
    const heldBlob = big.blobs[2]!.digest;
    slowProxy = await startUpstreamProxy(slowRegistry.url);
    slowProxy.delay = (method, p) => (method === "GET" && p.endsWith(`/blobs/${heldBlob}`) ? 600_000 : 0);
    tdb = await createTestDatabase();
    ferry = await startFerry({
      DATABASE_URL: tdb.url,
      FERRY_STORE_DIR: path.join(tmp, "store"),
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_GENERATOR_TICK_MS: "200",
      FERRY_TASK_LEASE_MS: "2000",
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: ferry.url });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    watchConsole(page, consoleErrors);
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    await ferry?.stop("SIGTERM");
    await tdb?.drop();
    await slowProxy?.close();
    await slowRegistry?.stop();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("runs first-run setup, then signs out and back in (a wrong password is reported)", async () => {
    await go("/");
    expect(page.url()).toBe(`${ferry.url}/setup`);
    await shot("setup");
    const token = (await readFile(path.join(tmp, "data", "setup.token"), "utf8")).trim();
    await page.getByLabel("Setup token").fill(token);
    await page.getByLabel("Admin username").fill(ADMIN.username);
    await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
    await page.getByLabel("Password again").fill(ADMIN.password);
    await page.getByRole("button", { name: "Create administrator" }).click();
    await page.waitForURL(`${ferry.url}/`);
    await expect.poll(() => page.getByTestId("whoami").textContent()).toContain(ADMIN.username);
    await expect.poll(() => page.getByText("No registries yet").count()).toBe(1);
    await shot("overview-empty");

    await logout();
    await page.getByLabel("Username").fill(ADMIN.username);
    await page.getByLabel("Password").fill("wrong password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.locator(".feedback.error").textContent()).toMatch(/password|credentials|invalid/i);
    await shot("login-error");
    await login(ADMIN);
  });

  it("creates a registry through the form: inline validation error, test connection, rules preview", async () => {
    await go("/registries");
    await expect.poll(() => page.getByText("No registries yet").count()).toBe(1);
    await page.getByRole("link", { name: "Add registry" }).click();
    await page.waitForURL(/\/registries\/new/);
    await page.getByLabel("Name", { exact: true }).fill("upstream");
    await page.getByLabel(/^URLs/).fill("ftp://not-a-registry/path");
    await page.getByLabel("Poll interval").fill("1h");
    await page.getByRole("button", { name: "Create registry" }).click();
    // The API's validation message, shown under the field it is about.
    const urlsError = page.locator("#err-urls");
    await expect.poll(() => urlsError.textContent()).toMatch(/registry root/);
    expect(await page.getByLabel(/^URLs/).getAttribute("aria-invalid")).toBe("true");
    await shot("registry-form-invalid");

    await page.getByLabel(/^URLs/).fill(registry.url);
    await page.getByRole("button", { name: "Add rule" }).click();
    const rule = page.getByRole("group", { name: "Rule 1" });
    await rule.getByLabel("Prefix", { exact: true }).fill("team/**");
    await rule.getByLabel("Tags regex").fill("^1\\.");
    await page.getByRole("button", { name: "Test connection" }).click();
    await expect.poll(() => page.getByText(/Connected to/).count()).toBe(1);
    await page.getByRole("button", { name: "Preview rules (dry run)" }).click();
    const preview = page.getByTestId("preview");
    await expect.poll(() => preview.textContent()).toContain("2 of 3 repositories match");
    const appRow = preview.locator("tr", { hasText: "team/app" });
    expect(await appRow.locator(".chip").allTextContents()).toEqual(["1.0", "1.1"]);
    expect(await appRow.textContent()).toContain("1 tags");
    expect(await preview.locator("tr", { hasText: "other/thing" }).textContent()).toContain("not mirrored");
    // The preview follows edits of the rules.
    await rule.getByLabel("Exclude regex").fill("^1\\.1$");
    await expect.poll(async () => appRow.locator(".chip").allTextContents(), { timeout: 15_000 }).toEqual(["1.0"]);
    await rule.getByLabel("Exclude regex").fill("");
    await expect.poll(async () => appRow.locator(".chip").allTextContents(), { timeout: 15_000 }).toEqual(["1.0", "1.1"]);
    expect(await unlabelledFields(page)).toEqual([]);
    await shot("registry-form-preview");

    await page.getByRole("button", { name: "Create registry" }).click();
    await page.waitForURL(/\/registries\/upstream/);
    expect(await unreachableByKeyboard(page)).toEqual([]);
  });

  it("shows the round live on the overview and the task list, without reloading", async () => {
    const tasksPage = await context.newPage();
    watchConsole(tasksPage, consoleErrors);
    await tasksPage.goto(`${ferry.url}/tasks`);
    await go("/");
    await page.evaluate(() => ((window as unknown as { __noReload: number }).__noReload = 1));
    await tasksPage.evaluate(() => ((window as unknown as { __noReload: number }).__noReload = 1));
    const card = page.getByTestId("registry-card-upstream");
    await expect.poll(() => page.getByTestId("live-status").textContent()).toBe("Live");
    // The first round starts by itself (the registry is new); wait until it has done its 2 repositories.
    await expect.poll(() => card.getByTestId("round-progress").textContent().catch(() => ""), { timeout: 60_000 }).toMatch(/2 \/ 2 repositories/);
    await expect.poll(() => card.getByTestId("phase").textContent(), { timeout: 60_000 }).toBe("waiting");
    expect(await card.textContent()).toMatch(/next round in (59m|1h 00m)/);
    // Totals caught up live as well.
    await expect.poll(() => page.getByTestId("totals").textContent()).toMatch(/Repositories2Tags3/);
    // Trigger the next round by hand and watch it complete.
    const roundBefore = (await card.textContent())!.match(/Round (\d+)/)![1];
    await card.getByRole("button", { name: "Sync now" }).click();
    await expect.poll(() => card.getByRole("status").first().textContent()).toMatch(/Round started|in progress/);
    await expect.poll(async () => (await card.textContent())!.match(/Round (\d+) done/)?.[1], { timeout: 60_000 }).toBe(String(Number(roundBefore) + 1));
    await shot("overview");
    // The task list got the new tasks pushed to it.
    const rows = tasksPage.getByTestId("task-table").locator("tbody tr");
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(4);
    await expect.poll(() => tasksPage.getByTestId("task-table").locator('tr[data-status="succeeded"]').count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(4);
    expect(await page.evaluate(() => (window as unknown as { __noReload?: number }).__noReload)).toBe(1);
    expect(await tasksPage.evaluate(() => (window as unknown as { __noReload?: number }).__noReload)).toBe(1);
    await shot("tasks", tasksPage);
    // Filters go to the API: kind syncImage has none.
    await tasksPage.getByLabel("Kind").selectOption("syncImage");
    await tasksPage.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => tasksPage.getByText("No tasks match these filters").count()).toBe(1);
    await tasksPage.close();
  });

  it("opens a task and shows its per-tag outcomes and log", async () => {
    await go("/tasks?repository=team/app");
    await page.getByTestId("task-table").locator("tbody tr").last().getByRole("link").first().click();
    await page.waitForURL(/\/tasks\/\d+$/);
    await expect.poll(() => page.getByTestId("task-status").textContent()).toBe("succeeded");
    const outcomes = page.getByTestId("outcomes");
    expect(await outcomes.locator("tbody tr").count()).toBe(3);
    expect(await outcomes.locator("tr", { hasText: "1.0" }).textContent()).toContain("synced");
    expect(await outcomes.locator("tr", { hasText: "latest" }).textContent()).toContain("filtered");
    expect(await page.getByTestId("bytes-copied").textContent()).toMatch(/KiB|MiB/);
    expect(await page.getByRole("button", { name: "Retry" }).count()).toBe(0);
    await shot("task");
  });

  it("browses the synced repository and copies its pull command", async () => {
    await go("/repositories");
    await page.getByRole("link", { name: "team/app" }).click();
    await page.waitForURL(/\/repositories\/upstream\/team\/app$/);
    const tags = page.getByTestId("tag-table");
    expect(await tags.locator("tbody tr").count()).toBe(2);
    const row = tags.locator("tr", { hasText: "1.0" });
    expect(await row.textContent()).toContain("sha256:");
    const cmd = `docker pull 127.0.0.1:${ferry.port}/team/app:1.0`;
    expect(await row.getByTestId("pull-command").textContent()).toBe(cmd);
    await row.getByRole("button", { name: `Copy pull command: ${cmd}` }).click();
    await expect.poll(() => row.getByRole("button", { name: /Copy pull command/ }).textContent()).toBe("Copied");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(cmd);
    await shot("repository");
  });

  it("cancels a task and retries it", async () => {
    // Paused, the registry's tasks wait in the queue: a task that is certain to be cancellable.
    await go("/registries");
    await page.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.getByText("Paused", { exact: true }).count()).toBeGreaterThan(0);
    await go("/repositories/upstream/team/app");
    await page.getByTestId("repo-sync").click();
    const queued = page.getByText(/Queued as task #\d+/);
    await expect.poll(() => queued.count()).toBe(1);
    const id = (await queued.textContent())!.match(/#(\d+)/)![1];
    await go(`/tasks/${id}`);
    expect(await page.getByTestId("task-status").textContent()).toBe("queued");
    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: "Cancel task" }).click();
    await expect.poll(() => page.getByTestId("task-status").textContent()).toBe("cancelled");
    await shot("task-cancelled");
    await page.getByRole("button", { name: "Retry" }).click();
    await page.waitForURL((u) => /\/tasks\/\d+$/.test(u.pathname) && !u.pathname.endsWith(`/${id}`));
    await expect.poll(() => page.getByTestId("task-status").textContent()).toBe("queued");
    const retryUrl = page.url();
    // Resume in another tab; the retried task runs and its page updates by itself.
    const other = await context.newPage();
    watchConsole(other, consoleErrors);
    await other.goto(`${ferry.url}/registries`);
    await other.getByRole("button", { name: "Resume" }).click();
    await expect.poll(() => other.getByText("Resumed").count()).toBe(1);
    await other.close();
    expect(page.url()).toBe(retryUrl);
    await expect.poll(() => page.getByTestId("task-status").textContent(), { timeout: 60_000 }).toBe("succeeded");
  });

  it("streams a running task's byte progress and cancels it from the task page, live on every open page", async () => {
    // The task list is open before the task exists: whatever it shows of it came over the stream.
    const tasksPage = await context.newPage();
    watchConsole(tasksPage, consoleErrors);
    await tasksPage.goto(`${ferry.url}/tasks`);
    await expect.poll(() => tasksPage.getByTestId("live-status").textContent()).toBe("Live");
    const overview = await context.newPage();
    watchConsole(overview, consoleErrors);
    await overview.goto(`${ferry.url}/`);
    await expect.poll(() => overview.getByTestId("live-status").textContent()).toBe("Live");
    const created = await apiAs(page, "POST", "/registries", { name: "slow", urls: [slowProxy.url], pollInterval: "1h", content: [{ prefix: "slow/**" }] });
    expect(created.status).toBe(201);

    const row = tasksPage.getByTestId("task-table").locator("tbody tr", { hasText: "slow/big" });
    await expect.poll(() => row.getAttribute("data-status").catch(() => null), { timeout: 60_000 }).toBe("running");
    // The 600 kB layer is copied, the small one is held upstream: the bar shows bytes of a known total.
    const bar = row.locator("progress");
    await expect.poll(async () => Number(await bar.getAttribute("value").catch(() => "0")), { timeout: 60_000 }).toBeGreaterThanOrEqual(600_000);
    expect(Number(await bar.getAttribute("max"))).toBeGreaterThan(600_000);
    expect(await tasksPage.getByTestId("live-status").textContent()).toBe("Live");
    // The overview card counts it as running.
    const card = overview.getByTestId("registry-card-slow");
    await expect.poll(() => card.getByTestId("running-count").textContent(), { timeout: 15_000 }).toBe("1");
    await shot("overview-running", overview);

    const id = (await row.getByRole("link").first().textContent())!.replace("#", "");
    await go(`/tasks/${id}`);
    expect(await page.getByTestId("task-status").textContent()).toBe("running");
    expect(await page.getByRole("progressbar", { name: "Bytes copied" }).count()).toBe(1);
    expect(await page.getByTestId("bytes-copied").textContent()).toMatch(/KiB of/);
    await shot("task-running");
    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: "Cancel task" }).click();
    await expect.poll(() => page.getByTestId("task-status").textContent(), { timeout: 15_000 }).toBe("cancelled");
    // The other page learns it from the stream, without a reload.
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 15_000 }).toBe("cancelled");
    await expect.poll(() => card.getByTestId("running-count").textContent(), { timeout: 15_000 }).toBe("0");
    // The worker stopped at its next lease renewal and left the task cancelled (not failed or succeeded).
    const after = await apiAs<{ status: string; errorCode: string }>(page, "GET", `/tasks/${id}`);
    expect(after.json).toMatchObject({ status: "cancelled", errorCode: "CANCELLED" });
    expect(await page.getByRole("button", { name: "Retry" }).count()).toBe(1);
    await tasksPage.close();
    await overview.close();
  });

  it("edits TLS and credential settings with secrets write-only, the API's errors inline, and a concurrent edit refused", async () => {
    const KEY = TLS.clientKey;
    const KEY_BODY = KEY.split("\n")[1]!; // a line of the key's base64: must never reach the page
    const CA_BODY = TLS.caCert.split("\n")[1]!;
    const PASSWORD = "s3cret-pass-XYZ";
    await go("/registries/new");
    await page.getByLabel("Name", { exact: true }).fill("secure");
    await page.getByLabel(/^URLs/).fill("https://127.0.0.1:9");
    // No periodic rounds: this registry is about its settings, not its syncing.
    await page.getByLabel("Poll interval").fill("");
    // A CA bundle that is not PEM is refused at the field (it would otherwise fail only at connect time).
    await page.getByLabel(/^CA bundle/).fill("-----BEGIN CERTIFICATE-----\nPRIVATE-CA\n-----END CERTIFICATE-----");
    await page.getByRole("button", { name: "Create registry" }).click();
    await expect.poll(() => page.locator("#err-caCert").textContent()).toMatch(/not a valid PEM certificate/);
    await page.getByLabel(/^CA bundle/).fill(TLS.caCert);
    await page.getByLabel(/^Client certificate/).fill(TLS.clientCert);
    await page.getByRole("button", { name: "Create registry" }).click();
    await expect.poll(() => page.locator("#err-clientCert").textContent()).toMatch(/clientCert and clientKey must be given together/);
    expect(await page.getByLabel(/^Client certificate/).getAttribute("aria-invalid")).toBe("true");
    await shot("registry-form-tls-invalid");
    await page.getByLabel(/^Client key/).fill(KEY);
    await page.getByLabel("Credentials source").selectOption("password");
    await page.getByLabel("Username", { exact: true }).fill("robot");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    expect(await unlabelledFields(page)).toEqual([]);
    await page.getByRole("button", { name: "Create registry" }).click();
    await page.waitForURL(/\/registries\/secure/);

    // Stored secrets are "set", their fields empty, and the page never carries them.
    await expect.poll(() => page.getByTestId("stored-clientKey").textContent()).toBe("set");
    expect(await page.getByTestId("stored-credentials").textContent()).toBe("set");
    expect(await page.getByLabel("Credentials source").inputValue()).toBe("password");
    expect(await page.getByLabel(/^Client key/).inputValue()).toBe("");
    expect(await page.getByLabel("Password", { exact: true }).inputValue()).toBe("");
    expect(await page.getByLabel(/^CA bundle/).inputValue()).toContain(CA_BODY);
    const html = await page.content();
    expect(html).not.toContain(KEY_BODY);
    expect(html).not.toContain(PASSWORD);
    await shot("registry-form-tls");

    // Choosing another kind of credentials without typing the new value is stopped at the field
    // (not sent for the API's bare error), says how to keep the stored ones, and changes nothing.
    await page.getByLabel("Credentials source").selectOption("registryToken");
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.locator("#err-credentials").textContent()).toMatch(/Enter the token for "Registry bearer token", or choose "Username and password" again to keep the stored credentials/);
    expect(await page.getByLabel("Token", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByTestId("stored-credentials").textContent()).toBe("set");
    await page.getByLabel("Credentials source").selectOption("password");
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.locator(".feedback.ok", { hasText: "Saved" }).count()).toBe(1);
    expect(await page.locator("#err-credentials").textContent()).toBe("");
    await page.reload();
    await expect.poll(() => page.getByTestId("stored-credentials").textContent()).toBe("set");
    expect(await page.getByLabel("Credentials source").inputValue()).toBe("password");

    // Switching to a Docker config.json (its credential helpers) drops the stored credentials.
    await page.getByLabel("Credentials source").selectOption("dockerConfig");
    await page.getByLabel("Docker config path").fill("/etc/ferry/docker-config.json");
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.getByTestId("stored-credentials").textContent()).toBe("not set");
    const saved = await apiAs<{ config: Record<string, unknown>; hasCredentials: boolean }>(page, "GET", "/registries/secure");
    expect(saved.json.config).toMatchObject({ dockerConfig: "/etc/ferry/docker-config.json", caCert: expect.stringContaining(CA_BODY) });
    expect(saved.json.config).not.toHaveProperty("clientKey");
    expect(saved.json.hasCredentials).toBe(true); // the client key is still stored
    // Removing the key but keeping the certificate is refused by the API, shown at the field.
    await page.getByLabel(/Remove the stored client key/).check();
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.locator("#err-clientCert").textContent()).toMatch(/given together/);
    await page.getByLabel(/^Client certificate/).fill("");
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.getByTestId("stored-clientKey").textContent()).toBe("not set");
    expect(await page.locator("#err-clientCert").textContent()).toBe("");

    // Someone else saves the registry while this form is open: this form's save is refused, says
    // why, and overwrites nothing; after a reload it saves.
    const current = await apiAs<{ config: Record<string, unknown> }>(page, "GET", "/registries/secure");
    const theirs = await apiAs<{ version: number }>(page, "PUT", "/registries/secure", { ...current.json.config, maxRetries: 7 });
    expect(theirs.status).toBe(200);
    await page.getByLabel("Docker config path").fill("/etc/ferry/other.json");
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.locator(".feedback.error").textContent()).toMatch(/Someone else changed this registry since you opened it, so nothing was saved/);
    expect((await apiAs<{ config: Record<string, unknown> }>(page, "GET", "/registries/secure")).json.config).toMatchObject({ maxRetries: 7, dockerConfig: "/etc/ferry/docker-config.json" });
    await page.reload();
    await page.getByLabel("Docker config path").fill("/etc/ferry/other.json");
    await page.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => page.locator(".feedback.ok", { hasText: "Saved" }).count()).toBe(1);
    expect((await apiAs<{ config: Record<string, unknown> }>(page, "GET", "/registries/secure")).json.config).toMatchObject({ maxRetries: 7, dockerConfig: "/etc/ferry/other.json" });
  });

  it("shows a failing upstream's backoff countdown and last error live, and each url's health and rate-limit budget", async () => {
    await go("/");
    await expect.poll(() => page.getByTestId("live-status").textContent()).toBe("Live");
    // An upstream that answers every request with 503: every round fails at the catalog.
    const failing = await startUpstreamProxy(registry.url);
    failing.failWith = 503;
    // What a rate-limited upstream reports on every answer (docker-registry never sends it).
    failing.headers = { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "7;w=21600" };
    expect((await apiAs(page, "POST", "/registries", { name: "down", urls: [failing.url], pollInterval: "1h", maxRetries: 0 })).status).toBe(201);
    const card = page.getByTestId("registry-card-down");
    await expect.poll(() => card.getByTestId("phase").textContent().catch(() => ""), { timeout: 60_000 }).toBe("backing-off");
    expect(await card.textContent()).toMatch(/asking again (in \d+s|any moment)/);
    await expect.poll(() => card.getByTestId("last-error").count(), { timeout: 15_000 }).toBe(1);
    await shot("overview-backoff");
    // Each url's health as Ferry saw it: the failing one is down with its error, the real one up.
    // Ferry records a new registry's url from its next health flush on (about 10 s), and the
    // retries thin out with the backoff: give it a minute, reading the page afresh.
    const health = (name: string) => page.getByTestId("registry-table").locator("tr", { has: page.getByRole("link", { name, exact: true }) }).getByTestId("url-health");
    await expect
      .poll(
        async () => {
          await go("/registries");
          return health("down").locator(".pill").textContent();
        },
        { timeout: 90_000, interval: 3_000 },
      )
      .toBe("down");
    expect(await health("down").locator(".error-text").textContent()).toBeTruthy();
    expect(await health("down").textContent()).toContain("7 requests left in the rate limit");
    expect(await health("upstream").textContent()).not.toContain("requests left");
    expect(await health("upstream").locator(".pill").textContent()).toBe("up");
    await shot("registries-health");
    expect((await apiAs(page, "POST", "/registries/down/pause")).status).toBe(200);
    await failing.close();
  });

  it("falls back to polling while the event stream is cut, and goes live again with a catch-up", async () => {
    const p = await context.newPage();
    watchConsole(p, consoleErrors);
    // Every attempt to open the stream fails, as when a proxy drops it.
    await p.route("**/api/graphql/stream**", (r) => r.abort());
    await p.goto(`${ferry.url}/tasks?registry=upstream`);
    const badge = p.getByTestId("live-status");
    await expect.poll(() => badge.textContent(), { timeout: 45_000 }).toBe("Reconnecting (polling)");
    await shot("tasks-reconnecting", p);
    const cancelled = (await apiAs<{ items: Array<{ id: string }> }>(page, "GET", "/tasks?registry=upstream&status=cancelled")).json.items[0]!.id;
    const rows = p.getByTestId("task-table").locator("tbody tr");
    const retryOnce = async () => {
      const copy = await apiAs<{ id: string }>(page, "POST", `/tasks/${cancelled}/retry`);
      expect(copy.status).toBe(201);
      return rows.filter({ has: p.getByRole("link", { name: `#${copy.json.id}`, exact: true }) });
    };
    // Without the stream the slow poll still brings the new task and its end.
    const whilePolling = await retryOnce();
    await expect.poll(() => whilePolling.getAttribute("data-status").catch(() => null), { timeout: 45_000 }).toBe("succeeded");
    expect(await badge.textContent()).toBe("Reconnecting (polling)");
    // The stream is back: the page re-subscribes by itself and later changes arrive over it.
    await p.unroute("**/api/graphql/stream**");
    await expect.poll(() => badge.textContent(), { timeout: 45_000 }).toBe("Live");
    const whileLive = await retryOnce();
    await expect.poll(() => whileLive.getAttribute("data-status").catch(() => null), { timeout: 45_000 }).toBe("succeeded");
    await p.close();
  });

  it("reads at 1280 px and on a phone, is keyboard-usable, follows the system theme, and loads nothing from outside Ferry", async () => {
    const origin = new URL(ferry.url).origin;
    const foreign: string[] = [];
    const taskId = (await apiAs<{ items: Array<{ id: string }> }>(page, "GET", "/tasks?limit=1")).json.items[0]!.id;
    const pages = ["/", "/tasks", `/tasks/${taskId}`, "/registries", "/registries/secure", "/registries/new", "/repositories", "/repositories/upstream/team/app", "/audit", "/users"];
    const background: Record<string, string> = {};
    for (const [width, scheme] of [[1280, "light"], [375, "dark"]] as const) {
      const ctx = await browser.newContext({ viewport: { width, height: 800 }, colorScheme: scheme });
      await ctx.addCookies(await context.cookies());
      const p = await ctx.newPage();
      watchConsole(p, consoleErrors);
      p.on("request", (r) => {
        if (!r.url().startsWith("data:") && new URL(r.url()).origin !== origin) foreign.push(r.url());
      });
      for (const path_ of pages) {
        await p.goto(`${ferry.url}${path_}`);
        await p.waitForLoadState("load");
        expect(p.url(), path_).toBe(`${ferry.url}${path_}`);
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${path_} at ${width} px`).toBeLessThanOrEqual(0);
        if (width === 1280) expect(await unreachableByKeyboard(p), `keyboard on ${path_}`).toEqual([]);
      }
      background[scheme] = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
      if (width === 375) {
        await p.goto(`${ferry.url}/tasks`);
        await p.waitForLoadState("load");
        await shot("tasks-phone-dark", p);
      }
      await ctx.close();
    }
    expect(foreign).toEqual([]);
    expect(background.light).not.toBe(background.dark);
  });

  it("shows the audit log and lets the admin add a viewer", async () => {
    await go("/audit");
    const audit = page.getByTestId("audit-table");
    await expect.poll(() => audit.textContent()).toContain("task.cancel");
    expect(await audit.textContent()).toContain("registry.create");
    await shot("audit");
    await go("/users");
    const form = page.locator("form", { hasText: "Add user" });
    await form.getByLabel("Username").fill(VIEWER.username);
    await form.getByLabel("Password").fill(VIEWER.password);
    await form.getByLabel("Role").selectOption("viewer");
    await form.getByRole("button", { name: "Add user" }).click();
    await expect.poll(() => page.getByTestId("user-table").textContent()).toContain(VIEWER.username);
    await page.getByLabel("Name", { exact: true }).fill("ci");
    await page.getByRole("button", { name: "Create token" }).click();
    await expect.poll(() => page.getByTestId("new-token").textContent()).toMatch(/^ferry_/);
    expect(await unlabelledFields(page)).toEqual([]);
    await shot("users");
  });

  it("gives a viewer no mutating controls", async () => {
    await logout();
    await login(VIEWER);
    await expect.poll(() => page.getByTestId("registry-card-upstream").count()).toBe(1);
    const nav = page.getByRole("navigation", { name: "Main" });
    expect(await nav.getByRole("link", { name: "Audit log" }).count()).toBe(0);
    expect(await nav.getByRole("link", { name: "Users & tokens" }).count()).toBe(0);
    const mutating = /Sync now|Pause|Resume|Reset|Delete|Add registry|Cancel task|Retry|Save|Create/;
    for (const p of ["/", "/registries", "/registries/upstream", "/repositories/upstream/team/app", "/tasks"]) {
      await go(p);
      expect(await page.getByRole("button", { name: mutating }).count(), p).toBe(0);
      expect(await page.getByRole("link", { name: mutating }).count(), p).toBe(0);
    }
    await page.getByTestId("task-table").locator("tbody tr").first().getByRole("link").first().click();
    await page.waitForURL(/\/tasks\/\d+$/);
    expect(await page.getByRole("button", { name: mutating }).count()).toBe(0);
    await go("/users");
    expect(page.url()).toBe(`${ferry.url}/?forbidden=1`);
    await shot("viewer-overview");
  });

  it("reads well on a phone and in dark mode, and logged no console errors", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
    await phone.addCookies(await context.cookies());
    const p = await phone.newPage();
    watchConsole(p, consoleErrors);
    await p.goto(`${ferry.url}/`);
    await p.waitForLoadState("load");
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot("overview-phone-dark", p);
    await phone.close();
    expect(consoleErrors).toEqual([]);
    // Keep the two README pictures in the repository up to date.
    const readmeShots = path.join(process.cwd(), "test/integration/ui/screenshots");
    if (process.env.FERRY_UPDATE_README_SHOTS === "1") {
      await copyFile(path.join(shots, "overview-running.png"), path.join(readmeShots, "overview.png"));
      await copyFile(path.join(shots, "task.png"), path.join(readmeShots, "task.png"));
    }
  });
});
