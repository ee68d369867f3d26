/**
 * End to end through lib/sync: a registry configured with caCert, clientCert and clientKey syncs
 * an image from a real docker-registry that sits behind a mutual-TLS front
 * (test/helpers/tls-fixtures.ts), and the same registry without the client certificate or
 * without the CA is refused, with nothing stored and no key in the error.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushImage, type PushedManifest } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startTlsFront, TLS, type TlsFront } from "../../helpers/tls-fixtures";
// After the helpers: see the note in test/integration/oci/tls-proxy.test.ts.
import { openStore, type Store } from "../../../lib/store";
import { createSyncService, MemoryTagState, type RegistryConfigInput, type SyncContext } from "../../../lib/sync";

const fast = { maxRetries: 0, retryDelay: 10, maxRetryDelay: 20 };
const KEY_LINE = TLS.clientKey.split("\n")[2]!;

function ctx(): SyncContext {
  return { signal: AbortSignal.timeout(20_000), event: () => {} };
}

describe.skipIf(!registryAvailable())("sync from a registry behind mutual TLS", { timeout: 30_000 }, () => {
  let reg: TestRegistry;
  let front: TlsFront;
  let storeDir: string;
  let store: Store;
  let image: PushedManifest;
  const services: ReturnType<typeof createSyncService>[] = [];

  function service(tls: Partial<RegistryConfigInput>): ReturnType<typeof createSyncService> {
    const s = createSyncService(
      { name: "secure", urls: [front.url], pollInterval: "1h", content: [{ prefix: "secure/**" }], ...fast, ...tls },
      { store, tagState: new MemoryTagState(), registryId: "00000000-0000-0000-0000-0000000000a1" },
    );
    services.push(s);
    return s;
  }

  beforeAll(async () => {
    reg = await startRegistry();
    image = await pushImage(reg, "secure/app", "v1", { layers: [2048, 4096] });
    front = await startTlsFront(reg.url, { mtls: true });
    storeDir = await mkdtemp(path.join(os.tmpdir(), "ferry-mtls-store-"));
    store = await openStore(storeDir, { fsync: false });
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    await front?.close();
    await reg?.stop();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it("is refused without the client certificate or without the CA, storing nothing", async () => {
    const requests = front.requests;
    // Without the client certificate the server drops the connection after the handshake
    // (NETWORK: the client cannot tell why, see tls-proxy.test.ts); without the CA the client
    // refuses the server (TLS).
    const cases: [Partial<RegistryConfigInput>, string][] = [
      [{ caCert: TLS.caCert }, "NETWORK"],
      [{ clientCert: TLS.clientCert, clientKey: TLS.clientKey }, "TLS"],
    ];
    for (const [tls, code] of cases) {
      const err = await service(tls).syncImage(ctx(), "secure/app", "v1").then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err).toMatchObject({ code });
      expect(`${err!.message} ${JSON.stringify(err)}`).not.toContain(KEY_LINE);
    }
    expect(front.requests).toBe(requests);
    await expect(store.getManifest("secure/app", "v1")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("syncs an image with caCert, clientCert and clientKey, presenting the client certificate", async () => {
    front.clientNames.length = 0;
    const r = await service({ caCert: TLS.caCert, clientCert: TLS.clientCert, clientKey: TLS.clientKey }).syncRepo(ctx(), "secure/app");
    expect(r.outcomes).toEqual([expect.objectContaining({ tag: "v1", status: "synced" })]);
    const stored = await store.getManifest("secure/app", "v1");
    expect(stored.digest).toBe(image.digest);
    for (const b of image.blobs) expect(await store.statBlob("secure/app", b.digest)).toMatchObject({ size: b.size });
    expect(front.clientNames.length).toBeGreaterThan(0);
    expect(new Set(front.clientNames)).toEqual(new Set(["ferry-test-client"]));
  });
});
