import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Webhook, webhooksFrom } from "../../../lib/alerts";
import { loadConfig } from "../../../lib/config";
import type { AppError } from "../../../lib/errors";
import { createLogger } from "../../../lib/observability";

const SECRET = "s3cr3t-value-that-is-long-enough";

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    return err as AppError;
  }
  throw new Error("expected loadConfig to throw");
}

describe("alerts config", () => {
  let dir: string;
  const load = async (alerts: unknown, env: Record<string, string> = {}) => {
    const file = path.join(dir, `c-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, JSON.stringify({ alerts }));
    return () => loadConfig({ file, env, cwd: dir });
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ferry-alerts-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("defaults: no webhooks; a webhook hears failure and recovery of every registry, with freshness when a threshold is set", async () => {
    expect(loadConfig({ env: {}, cwd: dir }).alerts).toEqual({ evaluateInterval: 15_000, webhooks: [] });
    const cfg = (await load({ webhooks: [{ name: "a", url: "https://hooks.example/x", secret: SECRET }, { name: "b", url: "http://h/y", secret: SECRET, freshnessThreshold: "6h" }] }))();
    const [a, b] = cfg.alerts.webhooks;
    expect(a).toMatchObject({ registries: "all", events: ["failure", "recovery"], maxAttempts: 8, failureAfter: 2, retryDelay: 10_000, timeout: 10_000 });
    expect(b).toMatchObject({ events: ["failure", "recovery", "freshness"], freshnessThreshold: 6 * 3_600_000 });
  });

  it("resolves secretEnv from the environment, also for a FERRY_ name, and fails naming the variable when it is unset", async () => {
    const hooks = { webhooks: [{ name: "a", url: "https://hooks.example/x", secretEnv: "FERRY_ALERT_A" }] };
    expect((await load(hooks, { FERRY_ALERT_A: SECRET }))().alerts.webhooks[0]!.secret).toBe(SECRET);
    const err = failure(await load(hooks, {}));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toMatch(/alerts\.webhooks\.0\.secretEnv=FERRY_ALERT_A: expected the environment variable to hold a secret/);
    const short = failure(await load(hooks, { FERRY_ALERT_A: "short" }));
    expect(short.message).not.toContain("short\"");
    // An unrelated unknown FERRY_ variable is still rejected.
    expect(failure(await load(hooks, { FERRY_ALERT_A: SECRET, FERRY_TYPO: "1" })).message).toMatch(/FERRY_TYPO/);
  });

  it("rejects bad entries with the field named, never echoing a secret", async () => {
    const base = { name: "a", url: "https://hooks.example/x" };
    const msg = async (w: object) => failure(await load({ webhooks: [w] })).message;
    expect(await msg({ ...base, secret: "too-short" })).toMatch(/alerts\.webhooks\.0\.secret=\[redacted\]: expected a secret of at least 16/);
    expect(await msg({ ...base, secret: "too-short" })).not.toContain("too-short");
    expect(await msg({ ...base })).toMatch(/secret.*exactly one of secret or secretEnv/);
    expect(await msg({ ...base, secret: SECRET, secretEnv: "X" })).toMatch(/exactly one of secret or secretEnv/);
    expect(await msg({ ...base, url: "ftp://x/y", secret: SECRET })).toMatch(/alerts\.webhooks\.0\.url=.*http/);
    expect(await msg({ ...base, url: "https://user:pw@x/y", secret: SECRET })).toMatch(/without user:password/);
    expect(await msg({ ...base, secret: SECRET, events: ["freshness"] })).toMatch(/freshnessThreshold.*threshold/);
    expect(await msg({ ...base, secret: SECRET, events: ["outage"] })).toMatch(/events\.0.*one of failure, recovery, freshness/);
    expect(await msg({ ...base, secret: SECRET, freshnessThreshold: "soon" })).toMatch(/freshnessThreshold.*duration/);
    expect(await msg({ ...base, secret: SECRET, colour: "red" })).toMatch(/unknown key\(s\) colour/);
    expect(failure(await load({ webhooks: [{ ...base, secret: SECRET }, { ...base, secret: SECRET }] })).message).toMatch(/a is declared twice/);
  });

  it("keeps the secret out of JSON and out of log lines", async () => {
    const cfg = (await load({ webhooks: [{ name: "a", url: "https://hooks.example/t0ken-in-path", secret: SECRET }] }))();
    const [hook] = webhooksFrom(cfg.alerts);
    expect(hook).toBeInstanceOf(Webhook);
    expect(JSON.stringify(hook)).not.toContain(SECRET);
    expect(JSON.stringify(hook)).not.toContain("t0ken-in-path");
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (l: string) => void lines.push(l) } });
    log.info({ hook, webhooks: [hook], alerts: cfg.alerts }, "config");
    expect(lines.join("")).toContain('"name":"a"');
    expect(lines.join("")).not.toContain(SECRET);
  });

  it("backs off exponentially from retryDelay, capped at an hour", async () => {
    const cfg = (await load({ webhooks: [{ name: "a", url: "https://h/x", secret: SECRET, retryDelay: "10s" }] }))();
    const [hook] = webhooksFrom(cfg.alerts);
    expect([1, 2, 3, 4].map((n) => hook!.retryDelayAfter(n))).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect(hook!.retryDelayAfter(30)).toBe(3_600_000);
  });
});
