/**
 * Manifest GETs through the /v2 handler over a real FsStore: repeated reads are served from the
 * verified bytes the store remembers, and a manifest file changed after it was read (rewritten in
 * place, or replaced) is read and hashed again when next looked at (within a second), so
 * corrupted bytes are refused rather than served.
 */
import { once } from "node:events";
import { mkdtemp, open, rename, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createV2Handler } from "../../../lib/distribution";
import { createLogger } from "../../../lib/observability";
import { FsStore } from "../../../lib/store";
import { storeImage, type StoredImage } from "../../helpers/store-images";

describe("manifest reads", () => {
  let tmp: string;
  let root: string;
  let server: http.Server;
  let base: string;
  let img: StoredImage;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-v2-reads-"));
    root = path.join(tmp, "store");
    const store = await FsStore.open(root, { fsync: false });
    img = await storeImage(store, "app", "v1");
    const handler = createV2Handler({ store, log: createLogger({ level: "silent" }) });
    server = http.createServer((req, res) => void handler(req, res));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const get = async (ref: string) => {
    const res = await fetch(`${base}/v2/app/manifests/${ref}`);
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  const manifestFile = () => path.join(root, "repos", "app", "_oci", "blobs", "sha256", img.digest.slice(7));

  it("serves the same verified bytes on every read", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await get("v1");
      expect(r.status).toBe(200);
      expect(r.bytes.equals(img.bytes)).toBe(true);
    }
  });

  it("refuses a manifest rewritten in place once its file is looked at again, and never serves the new bytes", async () => {
    expect((await get(img.digest)).status).toBe(200);
    const fh = await open(manifestFile(), "r+");
    const [byte] = img.bytes.subarray(10, 11);
    await fh.write(Buffer.from([byte! ^ 1]), 0, 1, 10);
    await fh.close();
    // Within a second of the last look, the bytes verified earlier may still be served.
    const soon = await get("v1");
    if (soon.status === 200) expect(soon.bytes.equals(img.bytes)).toBe(true);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 2_000 });
    try {
      expect((await get("v1")).status).toBe(500);
      expect((await get(img.digest)).status).toBe(500);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reads a replaced manifest file again", async () => {
    // The repository's name for the manifest now points at a new inode with the right bytes.
    const fresh = path.join(tmp, "fresh");
    await writeFile(fresh, img.bytes);
    await rename(fresh, manifestFile());
    const r = await get("v1");
    expect(r.status).toBe(200);
    expect(r.bytes.equals(img.bytes)).toBe(true);
  });
});
