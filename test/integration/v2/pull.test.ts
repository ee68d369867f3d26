/**
 * Real clients against a running Ferry's /v2 API: skopeo inspects and copies single and
 * multi-arch images (by tag and by digest), and plain HTTP checks ranges, paging, referrers and
 * errors in the OCI format.
 */
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsStore } from "../../../lib/store";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { sha256 } from "../../helpers/images";
import { storeImage, storeIndex, type StoredImage } from "../../helpers/store-images";

const run = promisify(execFile);
const SKOPEO = "/usr/bin/skopeo";

describe("the /v2 pull API", () => {
  let tmp: string;
  let tdb: TestDatabase;
  let ferry: FerryProcess;
  let single: StoredImage;
  let multi: StoredImage & { children: StoredImage[] };
  let sig: StoredImage;

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-v2-"));
    await chmod(tmp, 0o755);
    const storeRoot = path.join(tmp, "store");
    const store = await FsStore.open(storeRoot);
    single = await storeImage(store, "library/alpine", "3.20", { layers: [300_000, 5000] });
    await storeImage(store, "library/alpine", "3.19");
    multi = await storeIndex(store, "team/app/web", "v1", [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ]);
    sig = await storeImage(store, "library/alpine", null, {
      artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
      subject: { mediaType: single.mediaType, digest: single.digest, size: single.bytes.length },
    });
    for (let i = 0; i < 5; i++) await storeImage(store, `paging/r${i}`, "t");
    tdb = await createTestDatabase();
    ferry = await startFerry({ DATABASE_URL: tdb.url, FERRY_STORE_DIR: storeRoot, FERRY_DATA_DIR: path.join(tmp, "data") });
  }, 600_000);

  afterAll(async () => {
    await ferry?.stop();
    await tdb?.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  const host = () => ferry.url.replace("http://", "");

  it("answers the version check", async () => {
    const res = await fetch(`${ferry.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
  });

  it("serves a single image to skopeo inspect and copy, by tag and by digest", async () => {
    const { stdout } = await run(SKOPEO, ["inspect", "--tls-verify=false", "--raw", `docker://${host()}/library/alpine:3.20`]);
    expect(sha256(Buffer.from(stdout))).toBe(single.digest);
    const dest = path.join(tmp, "copy-single");
    await run(SKOPEO, ["copy", "--preserve-digests", "--src-tls-verify=false", `docker://${host()}/library/alpine:3.20`, `oci:${dest}:x`]);
    const layer = single.layers[0]!;
    const copied = await readFile(path.join(dest, "blobs", "sha256", layer.digest.slice(7)));
    expect(copied.equals(layer.data)).toBe(true);
    const byDigest = path.join(tmp, "copy-digest");
    await run(SKOPEO, ["copy", "--preserve-digests", "--src-tls-verify=false", `docker://${host()}/library/alpine@${single.digest}`, `oci:${byDigest}:x`]);
    const index = JSON.parse(await readFile(path.join(byDigest, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]!.digest).toBe(single.digest);
  });

  it("serves a multi-arch index whole to skopeo copy --all", async () => {
    const dest = path.join(tmp, "copy-multi");
    await run(SKOPEO, ["copy", "--all", "--preserve-digests", "--src-tls-verify=false", `docker://${host()}/team/app/web:v1`, `oci:${dest}:v1`]);
    const index = JSON.parse(await readFile(path.join(dest, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]!.digest).toBe(multi.digest);
    for (const child of multi.children) {
      expect((await readFile(path.join(dest, "blobs", "sha256", child.digest.slice(7)))).equals(child.bytes)).toBe(true);
    }
  });

  it("lists tags and the catalog with n/last paging and a Link header", async () => {
    const tags = await (await fetch(`${ferry.url}/v2/library/alpine/tags/list`)).json();
    expect(tags).toEqual({ name: "library/alpine", tags: ["3.19", "3.20"] });
    const page = await fetch(`${ferry.url}/v2/_catalog?n=2`);
    expect(((await page.json()) as { repositories: string[] }).repositories).toEqual(["library/alpine", "paging/r0"]);
    expect(page.headers.get("link")).toBe('</v2/_catalog?n=2&last=paging%2Fr0>; rel="next"');
    const next = await (await fetch(`${ferry.url}/v2/_catalog?n=100&last=paging/r3`)).json();
    expect(next).toEqual({ repositories: ["paging/r4", "team/app/web"] });
  });

  it("serves byte ranges of a blob and HEAD without a body", async () => {
    const layer = single.layers[0]!;
    const res = await fetch(`${ferry.url}/v2/library/alpine/blobs/${layer.digest}`, { headers: { range: "bytes=100-199" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 100-199/${layer.data.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(layer.data.subarray(100, 200))).toBe(true);
    const head = await fetch(`${ferry.url}/v2/library/alpine/manifests/3.20`, { method: "HEAD" });
    expect(head.headers.get("docker-content-digest")).toBe(single.digest);
    expect(head.headers.get("content-length")).toBe(String(single.bytes.length));
    const bad = await fetch(`${ferry.url}/v2/library/alpine/blobs/${layer.digest}`, { headers: { range: `bytes=${layer.data.length}-` } });
    expect(bad.status).toBe(416);
  });

  it("lists referrers with artifactType filtering", async () => {
    const all = (await (await fetch(`${ferry.url}/v2/library/alpine/referrers/${single.digest}`)).json()) as { manifests: Array<{ digest: string }> };
    expect(all.manifests.map((m) => m.digest)).toEqual([sig.digest]);
    const none = await fetch(`${ferry.url}/v2/library/alpine/referrers/${single.digest}?artifactType=application/spdx%2Bjson`);
    expect(none.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
  });

  it("answers errors in the OCI format and refuses pushes", async () => {
    const missing = await fetch(`${ferry.url}/v2/library/alpine/manifests/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("MANIFEST_UNKNOWN");
    const blob = await fetch(`${ferry.url}/v2/library/alpine/blobs/sha256:${"0".repeat(64)}`);
    expect(((await blob.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("BLOB_UNKNOWN");
    const bad = await fetch(`${ferry.url}/v2/Bad..Name/manifests/x`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("NAME_INVALID");
    const push = await fetch(`${ferry.url}/v2/library/alpine/blobs/uploads/`, { method: "POST" });
    expect(push.status).toBe(405);
    expect(((await push.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("UNSUPPORTED");
  });
});
