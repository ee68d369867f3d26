import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialsFromDockerConfig, readDockerConfig } from "../../../lib/oci";
import { RegistryClient } from "../../../lib/oci";
import { fakeServer, json, registryError } from "./fake-server";

let dir: string;
const oldPath = process.env.PATH;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "ferry-dockercfg-"));
  // A docker-credential-* helper speaking the real protocol: server URL on stdin, JSON on stdout.
  await writeFile(
    path.join(dir, "docker-credential-fake"),
    `#!/bin/sh
read server
case "$server" in
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"hubuser","Secret":"hubpass"}' ;;
  ecr.example.com) echo '{"ServerURL":"x","Username":"<token>","Secret":"refresh-tok"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
  );
  await chmod(path.join(dir, "docker-credential-fake"), 0o755);
  process.env.PATH = `${dir}:${oldPath}`;
});
afterAll(async () => {
  process.env.PATH = oldPath;
  await rm(dir, { recursive: true, force: true });
});

describe("Docker config.json", () => {
  it("reads auths (auth, username/password, identitytoken) by host or URL key", async () => {
    const cfg = {
      auths: {
        "registry.example.com": { auth: Buffer.from("alice:pa:ss").toString("base64") },
        "https://other.example.com/v1/": { username: "bob", password: "pw" },
        "id.example.com": { identitytoken: "idt" },
      },
    };
    expect(await credentialsFromDockerConfig(cfg, "registry.example.com")).toEqual({ username: "alice", password: "pa:ss" });
    expect(await credentialsFromDockerConfig(cfg, "other.example.com")).toEqual({ username: "bob", password: "pw" });
    expect(await credentialsFromDockerConfig(cfg, "id.example.com")).toEqual({ identityToken: "idt" });
    expect(await credentialsFromDockerConfig(cfg, "none.example.com")).toBeUndefined();
  });

  it("runs credHelpers and credsStore executables", async () => {
    expect(await credentialsFromDockerConfig({ credsStore: "fake" }, "registry-1.docker.io")).toEqual({ username: "hubuser", password: "hubpass" });
    expect(await credentialsFromDockerConfig({ credHelpers: { "ecr.example.com": "fake" } }, "ecr.example.com")).toEqual({ identityToken: "refresh-tok" });
    // credsStore has nothing: fall back to auths
    expect(await credentialsFromDockerConfig({ credsStore: "fake", auths: { "q.example.com": { username: "q", password: "w" } } }, "q.example.com")).toEqual({ username: "q", password: "w" });
    await expect(credentialsFromDockerConfig({ credsStore: "missing-helper" }, "x.example.com")).rejects.toMatchObject({ code: "CREDENTIALS" });
  });

  it("treats a missing file as empty and a broken one as CREDENTIALS", async () => {
    expect(await readDockerConfig(path.join(dir, "nope.json"))).toEqual({});
    await writeFile(path.join(dir, "broken.json"), "{");
    await expect(readDockerConfig(path.join(dir, "broken.json"))).rejects.toMatchObject({ code: "CREDENTIALS" });
  });

  it("authenticates a client from config.json", async () => {
    const s = await fakeServer((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from("carol:pw").toString("base64")}`) {
        return registryError(res, 401, "UNAUTHORIZED", { "www-authenticate": 'Basic realm="r"' });
      }
      json(res, 200, {});
    });
    const file = path.join(dir, "config.json");
    await writeFile(file, JSON.stringify({ auths: { [new URL(s.url).host]: { auth: Buffer.from("carol:pw").toString("base64") } } }));
    const c = new RegistryClient({ url: s.url, dockerConfig: file });
    try {
      expect((await c.ping()).auth).toBe("basic");
    } finally {
      await c.close();
      await s.close();
    }
  });
});
