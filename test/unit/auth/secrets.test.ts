import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSecretKey, loadSecretKey, open, openJson, seal, sealJson } from "../../../lib/secrets";

describe("lib/secrets", () => {
  const key = randomBytes(32);
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("round-trips, with a fresh IV each time, and never stores the plaintext", () => {
    const a = seal(key, "hunter2-password", "ferry:registry:1");
    const b = seal(key, "hunter2-password", "ferry:registry:1");
    expect(a.equals(b)).toBe(false);
    expect(a.toString("latin1")).not.toContain("hunter2");
    expect(open(key, a, "ferry:registry:1").toString()).toBe("hunter2-password");
    expect(openJson(key, sealJson(key, { p: 1 }, "x"), "x")).toEqual({ p: 1 });
  });

  it("refuses a wrong key, a box bound to something else, and tampering, with SECRET_UNREADABLE", () => {
    const box = seal(key, "s", "ferry:registry:1");
    expect(() => open(randomBytes(32), box, "ferry:registry:1")).toThrow(expect.objectContaining({ code: "SECRET_UNREADABLE" }));
    expect(() => open(key, box, "ferry:registry:2")).toThrow(expect.objectContaining({ code: "SECRET_UNREADABLE" }));
    const bad = Buffer.from(box);
    bad[bad.length - 1]! ^= 1;
    expect(() => open(key, bad, "ferry:registry:1")).toThrow(expect.objectContaining({ code: "SECRET_UNREADABLE" }));
    expect(() => open(key, Buffer.from([9, 9]), "x")).toThrow(expect.objectContaining({ code: "SECRET_UNREADABLE" }));
  });

  it("decodes hex and base64 keys and rejects others without echoing them", () => {
    expect(decodeSecretKey(key.toString("hex")).equals(key)).toBe(true);
    expect(decodeSecretKey(key.toString("base64")).equals(key)).toBe(true);
    expect(decodeSecretKey(key.toString("base64url")).equals(key)).toBe(true);
    try {
      decodeSecretKey("not-a-key-but-a-secret");
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe("CONFIG_INVALID");
      expect((err as Error).message).not.toContain("not-a-key-but-a-secret");
    }
  });

  it("generates a 0600 key file in development, warns, and reuses it", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "ferry-key-"));
    dirs.push(dir);
    const warnings: string[] = [];
    const first = loadSecretKey({ dataDir: dir, warn: (m) => warnings.push(m) });
    expect(first.source).toBe("generated");
    expect(warnings.join()).toMatch(/FERRY_SECRET_KEY is not set/);
    expect((await stat(path.join(dir, "secret.key"))).mode & 0o777).toBe(0o600);
    const second = loadSecretKey({ dataDir: dir });
    expect(second.source).toBe("file");
    expect(second.key.equals(first.key)).toBe(true);
    expect((await readFile(path.join(dir, "secret.key"), "utf8")).trim()).toBe(first.key.toString("base64"));
    expect(loadSecretKey({ dataDir: dir, configured: key.toString("hex") }).source).toBe("env");
  });
});
