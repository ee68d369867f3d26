/**
 * Config-file registries through the real start and SIGHUP paths: two mirrors (boot +
 * startMirror, separate pools, as two Ferry processes) starting at the same moment on a fresh
 * database both start, and a SIGHUP with an unchanged file logs "configuration reloaded" with
 * nothing created, updated or disabled; an edited entry is reported as the only update; SIGHUPs
 * during a reload make one more reload, not none.
 */
import { writeFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../lib/config";
import { installConfigReload, startMirror, type Mirror } from "../../../lib/mirror";
import { createLogger } from "../../../lib/observability";
import { boot, type Runtime } from "../../../lib/runtime";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { waitFor } from "../../helpers/wait";

describe("config-file registries at start and on SIGHUP", () => {
  let tmp: string;
  let tdb: TestDatabase;
  let configFile: string;
  const procs: Array<{ runtime: Runtime; mirror: Mirror }> = [];
  // On-demand only (no periodic sync): nothing is fetched from these addresses.
  const registries = (regex = "^1\\.") =>
    ["alpha", "beta", "gamma"].map((name) => ({ name, urls: ["http://127.0.0.1:9"], onDemand: true, tlsVerify: false, maxRetries: 0, content: [{ prefix: "apps/**", tags: { regex } }] }));

  // The reload sets its logger's level from the file's environment: "info", so its line is written.
  const loadOptions = (level = "silent") => ({
    file: configFile,
    cwd: tmp,
    env: { DATABASE_URL: tdb.url, FERRY_STORE_DIR: path.join(tmp, "store"), FERRY_DATA_DIR: path.join(tmp, "data"), FERRY_WORKERS: "1", FERRY_LOG_LEVEL: level },
  });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-start-reload-"));
    await chmod(tmp, 0o755);
    tdb = await createTestDatabase();
    configFile = path.join(tmp, "ferry.config.json");
    await writeFile(configFile, JSON.stringify({ registries: registries() }));
  }, 60_000);

  afterAll(async () => {
    for (const p of procs.splice(0)) {
      await p.mirror.stop(5000);
      await p.runtime.shutdown();
    }
    await tdb?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("starts two mirrors at once on a fresh database", async () => {
    const started = await Promise.all(
      ["one", "two"].map(async (name) => {
        const runtime = await boot({ config: loadConfig(loadOptions()), log: createLogger({ level: "silent", name }) });
        const p = { runtime, mirror: await startMirror(runtime) };
        procs.push(p);
        return p;
      }),
    );
    expect(started).toHaveLength(2);
    const rows = await started[0]!.runtime.db.registry.findMany({ orderBy: { name: "asc" } });
    expect(rows.map((r) => [r.name, r.enabled])).toEqual([["alpha", true], ["beta", true], ["gamma", true]]);
  }, 60_000);

  it("reports nothing changed on a SIGHUP with the same file, and only the edited entry after an edit", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: "info", destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
    const reloaded = () => lines.filter((l) => l.msg === "configuration reloaded");
    const uninstall = installConfigReload(procs[0]!.mirror, log, loadOptions("info"));
    try {
      process.emit("SIGHUP");
      await waitFor("the first reload", async () => reloaded().length === 1, 20_000);
      expect(reloaded()[0]).toMatchObject({ created: [], updated: [], disabled: [] });

      await writeFile(configFile, JSON.stringify({ registries: registries().map((r) => (r.name === "beta" ? registries("^2\\.")[1]! : r)) }));
      process.emit("SIGHUP");
      await waitFor("the second reload", async () => reloaded().length === 2, 20_000);
      expect(reloaded()[1]).toMatchObject({ created: [], updated: ["beta"], disabled: [] });

      // A SIGHUP while a reload runs is not lost: the file edited again after the running reload
      // read it is applied by one more reload (the first reads its file before the second SIGHUP).
      writeFileSync(configFile, JSON.stringify({ registries: registries() }));
      process.emit("SIGHUP");
      writeFileSync(configFile, JSON.stringify({ registries: registries().map((r) => (r.name === "gamma" ? registries("^5\\.")[2]! : r)) }));
      process.emit("SIGHUP");
      process.emit("SIGHUP");
      await waitFor("both reloads", async () => reloaded().length === 4, 20_000);
      expect(reloaded().slice(2)).toMatchObject([{ updated: ["beta"] }, { updated: ["gamma"] }]);
      await new Promise((r) => setTimeout(r, 300));
      expect(reloaded()).toHaveLength(4);
    } finally {
      uninstall();
    }
  }, 60_000);
});
