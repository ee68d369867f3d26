import { cp, mkdir, readdir, readFile, rename, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isDigest, isValidRepoName, isValidTag, openStore, type FsStore } from "../../../lib/store";
import { blob, body, pushImage, tempDir } from "./fixtures";

describe("store names", () => {
  it("accepts OCI distribution names, nested", () => {
    for (const n of ["alpine", "library/alpine", "a/b/c/d", "my-app", "my__app", "my.app", "a1/b_2/c--3", "blobs", "a/index.json"]) {
      expect(isValidRepoName(n), n).toBe(true);
    }
  });

  it("refuses traversal, absolute, NUL, uppercase, empty components and overlong names", () => {
    for (const n of ["../x", "a/../../b", "/abs", "a/", "/", "", ".", "..", "a//b", "a\0b", "Alpine", "a/B", "_oci", "a/_oci", "-a", "a-", ".hidden", "a/.git", "a b", "a\\b", "x".repeat(256)]) {
      expect(isValidRepoName(n), JSON.stringify(n)).toBe(false);
    }
  });

  it("validates tags and digests", () => {
    expect(isValidTag("v1.2.3-rc_1")).toBe(true);
    expect(isValidTag("_x")).toBe(true);
    expect(isValidTag("a".repeat(128))).toBe(true);
    for (const t of ["", ".x", "-x", "a".repeat(129), "a/b", "a:b", "a\0"]) expect(isValidTag(t), t).toBe(false);
    expect(isDigest(`sha256:${"a".repeat(64)}`)).toBe(true);
    expect(isDigest(`sha512:${"a".repeat(128)}`)).toBe(true);
    for (const d of [`sha256:${"A".repeat(64)}`, `sha256:${"a".repeat(63)}`, `md5:${"a".repeat(32)}`, `sha256:../${"a".repeat(61)}`]) {
      expect(isDigest(d), d).toBe(false);
    }
  });
});

describe("store traversal fences", () => {
  let store: FsStore;
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    store = await openStore(join(dir, "store"), { fsync: false });
  });
  afterEach(() => cleanup());

  it("refuses bad names in every operation with BAD_USER_INPUT", async () => {
    const digest = `sha256:${"a".repeat(64)}`;
    for (const name of ["../x", "a/../../b", "/abs", "a\0b", "Upper"]) {
      await expect(store.stage(name)).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
      await expect(store.getManifest(name, "latest")).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
      await expect(store.statBlob(name, digest)).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
      await expect(store.listTags(name)).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
      await expect(store.deleteTag(name, "x")).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    }
    await expect(store.getManifest("ok", "../../etc")).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    await expect(store.statBlob("ok", "sha256:../../x")).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
  });

  it("does not follow a symlink planted inside the root that points outside", async () => {
    // Outside the store: something that looks like a repository with a secret "blob".
    const outside = join(dir, "outside");
    const secret = blob("top secret");
    await mkdir(join(outside, "_oci", "blobs", "sha256"), { recursive: true });
    await writeFile(join(outside, "_oci", "blobs", "sha256", secret.digest.slice(7)), secret.bytes);
    await writeFile(join(outside, "_oci", "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await writeFile(join(outside, "_oci", "oci-layout"), "{}");
    await symlink(outside, join(store.root, "repos", "evil"));

    await expect(store.statBlob("evil", secret.digest)).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    await expect(store.openBlob("evil", secret.digest)).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    await expect(store.listTags("evil")).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    expect(await store.listRepositories()).toEqual([]);
    // Writes refuse to create folders through it.
    await expect(pushImage(store, "evil/app", "v1", [blob("x")])).rejects.toMatchObject({ code: "BAD_USER_INPUT" });

    // A symlinked blob inside a real repository is not followed either.
    const m = await pushImage(store, "real", "v1", [blob("layer")]);
    expect(await store.getManifest("real", "v1")).toMatchObject({ digest: m.digest });
    const link = join(store.root, "repos", "real", "_oci", "blobs", "sha256", secret.digest.slice(7));
    await symlink(join(outside, "_oci", "blobs", "sha256", secret.digest.slice(7)), link);
    expect(await store.statBlob("real", secret.digest)).toBeNull();
    await expect(store.openBlob("real", secret.digest)).rejects.toMatchObject({ code: "NOT_FOUND" });
    // ...and a symlinked blobs folder is refused.
    await symlink(join(outside, "_oci", "blobs", "sha256"), join(store.root, "repos", "real", "_oci", "blobs", "sha512"));
    await expect(store.statBlob("real", `sha512:${"b".repeat(128)}`)).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    expect(body).toBeTypeOf("function");
  });

  it("refuses a folder swapped for a symlink after an earlier commit checked it", async () => {
    // Commits remember the identity of the repository folders they checked; a later swap must
    // still be caught at every level, and nothing may be written through the symlink.
    const repoDir = join(store.root, "repos", "swap", "app");
    const levels = [join(store.root, "repos", "swap"), repoDir, join(repoDir, "_oci"), join(repoDir, "_oci", "blobs", "sha256")];
    for (const [i, level] of levels.entries()) {
      await pushImage(store, "swap/app", `v${i}`, [blob(`before ${i}`)]);
      const outside = join(dir, `outside-${i}`);
      await cp(level, outside, { recursive: true });
      await rename(level, `${outside}-aside`);
      await symlink(outside, level);
      const before = await snapshot(outside);
      await expect(pushImage(store, "swap/app", "after", [blob(`after ${i}`)]), `level ${i}`).rejects.toMatchObject({
        code: "BAD_USER_INPUT",
      });
      expect(await snapshot(outside), `level ${i}`).toEqual(before);
      await unlink(level);
      await rename(`${outside}-aside`, level);
    }
    expect(await store.listTags("swap/app")).toEqual(["v0", "v1", "v2", "v3"]);
  });
});

/** Every file under `dir` with its content, to prove nothing was written there. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name)] = (await readFile(join(e.parentPath, e.name))).toString("hex");
  }
  return out;
}
