/**
 * Beyond zot: an on-demand tag is served from the store without asking upstream until its
 * manifestCheckInterval has passed; then a pull checks upstream and picks up a re-pushed tag; and
 * when the upstream is down, the cached image is served anyway (stale-on-error).
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";

const CHECK_MS = 1500;

describe.skipIf(!registryAvailable())("on-demand freshness", () => {
  let tmp: string;
  let registry: TestRegistry;
  let proxy: UpstreamProxy;
  let tdb: TestDatabase;
  let ferry: FerryProcess;

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-fresh-"));
    await chmod(tmp, 0o755);
    registry = await startRegistry();
    proxy = await startUpstreamProxy(registry.url);
    const configFile = path.join(tmp, "ferry.config.json");
    await writeFile(
      configFile,
      JSON.stringify({ registries: [{ name: "hub", urls: [proxy.url], onDemand: true, tlsVerify: false, maxRetries: 0, manifestCheckInterval: CHECK_MS }] }),
    );
    tdb = await createTestDatabase();
    ferry = await startFerry({ DATABASE_URL: tdb.url, FERRY_CONFIG: configFile, FERRY_STORE_DIR: path.join(tmp, "store"), FERRY_DATA_DIR: path.join(tmp, "data") });
  }, 600_000);

  afterAll(async () => {
    await ferry?.stop();
    await tdb?.drop();
    await proxy?.close();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const pull = async () => {
    const res = await fetch(`${ferry.url}/v2/team/app/manifests/stable`);
    await res.arrayBuffer();
    return { status: res.status, digest: res.headers.get("docker-content-digest") };
  };

  it("serves from the store within the interval, re-checks after it, and serves stale when upstream is down", async () => {
    const first = await pushImage(registry, "team/app", "stable");
    expect(await pull()).toEqual({ status: 200, digest: first.digest });

    // Re-pushed upstream; within the interval Ferry does not ask.
    const second = await pushImage(registry, "team/app", "stable");
    proxy.reset();
    expect(await pull()).toEqual({ status: 200, digest: first.digest });
    expect(proxy.hits.size).toBe(0);

    // Past the interval the pull checks upstream and gets the new image.
    await new Promise((r) => setTimeout(r, CHECK_MS + 200));
    expect(await pull()).toEqual({ status: 200, digest: second.digest });
    expect(proxy.count("HEAD", /^\/v2\/team\/app\/manifests\/stable$/)).toBe(1);

    // Upstream down and the check due: the cached image is still served.
    proxy.failWith = 503;
    await new Promise((r) => setTimeout(r, CHECK_MS + 200));
    proxy.reset();
    expect(await pull()).toEqual({ status: 200, digest: second.digest });
    expect(proxy.hits.size).toBeGreaterThan(0);
    proxy.failWith = null;
  });
});
