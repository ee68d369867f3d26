/**
 * Starts Debian's `docker-registry` (CNCF distribution 2.8) on a free 127.0.0.1 port with its own
 * temporary root and optional htpasswd basic auth. Integration tests use it as the real upstream.
 *
 * When the binary is missing, `registryAvailable()` is false and suites skip with a loud message,
 * except under CI=true where a missing binary fails the run: CI must never pass by skipping.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { freePort } from "../../lib/db/embedded";

export const REGISTRY_BIN = process.env.FERRY_TEST_REGISTRY_BIN ?? "/usr/bin/docker-registry";

export function registryAvailable(): boolean {
  if (existsSync(REGISTRY_BIN)) return true;
  const msg = `docker-registry not found at ${REGISTRY_BIN}: install it (apt-get install docker-registry)`;
  if (process.env.CI === "true") throw new Error(`${msg}; CI requires it`);
  console.warn(`\n!!! SKIPPING registry tests: ${msg}\n`);
  return false;
}

export interface TestRegistry {
  /** e.g. http://127.0.0.1:5123 */
  url: string;
  /** e.g. 127.0.0.1:5123 */
  host: string;
  root: string;
  auth?: { username: string; password: string };
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  auth?: { username: string; password: string };
  /** Page size for /v2/_catalog when the client gives no `n` (distribution's default is 100). */
  catalogMaxEntries?: number;
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const root = await mkdtemp(path.join(os.tmpdir(), "ferry-registry-"));
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${path.join(root, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: ferry-test-secret",
  ];
  if (options.catalogMaxEntries) lines.push("catalog:", `  maxentries: ${options.catalogMaxEntries}`);
  if (options.auth) {
    const hash = bcrypt.hashSync(options.auth.password, 4).replace(/^\$2b\$/, "$2y$");
    await writeFile(path.join(root, "htpasswd"), `${options.auth.username}:${hash}\n`);
    lines.push("auth:", "  htpasswd:", "    realm: ferry-test", `    path: ${path.join(root, "htpasswd")}`);
  }
  const configFile = path.join(root, "config.yml");
  await writeFile(configFile, lines.join("\n") + "\n");

  const child = spawn(REGISTRY_BIN, ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url, child, () => stderr);
  return {
    url,
    host: `127.0.0.1:${port}`,
    root,
    ...(options.auth ? { auth: options.auth } : {}),
    stop: async () => {
      await stopChild(child);
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function waitUntilUp(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited early: ${stderr()}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stopChild(child);
  throw new Error(`docker-registry did not come up within 15 s: ${stderr()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
