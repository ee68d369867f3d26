/**
 * Credentials from a Docker `config.json` the way the docker CLI finds them: `credHelpers[host]`
 * first, then `credsStore`, then `auths[host]`. Helpers are the `docker-credential-<name>`
 * executables on PATH, spoken to over stdin/stdout. Docker Hub is filed under
 * `https://index.docker.io/v1/`, so that key is tried for registry-1.docker.io.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { CredentialSource, Credentials } from "./credentials";
import { OciError } from "./errors";
import { DOCKER_HUB_REGISTRY } from "./reference";

/** The parts of config.json Ferry reads. */
export interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const HUB_KEY = "https://index.docker.io/v1/";

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(): string {
  return path.join(process.env.DOCKER_CONFIG ?? path.join(os.homedir(), ".docker"), "config.json");
}

/** Reads config.json; a missing file is an empty config, an unreadable one is CREDENTIALS. */
export async function readDockerConfig(file = defaultDockerConfigPath()): Promise<DockerConfigFile> {
  let text: string;
  try {
    // Read at run time from wherever the operator points; not something for Next's build to trace.
    text = await readFile(/* turbopackIgnore: true */ file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new OciError("CREDENTIALS", `cannot read Docker config ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
  try {
    return JSON.parse(text) as DockerConfigFile;
  } catch {
    throw new OciError("CREDENTIALS", `Docker config ${file} is not valid JSON`);
  }
}

function keyHost(key: string): string {
  const withScheme = key.includes("://") ? key : `https://${key}`;
  try {
    return new URL(withScheme).host;
  } catch {
    return key;
  }
}

function isHub(host: string): boolean {
  return host === DOCKER_HUB_REGISTRY || host === "index.docker.io" || host === "docker.io";
}

/** Finds the config key for `host` in a map keyed like docker does (bare host or URL). */
function findKey(map: Record<string, unknown> | undefined, host: string): string | undefined {
  if (!map) return undefined;
  if (isHub(host) && HUB_KEY in map) return HUB_KEY;
  if (host in map) return host;
  return Object.keys(map).find((k) => keyHost(k) === host || (isHub(host) && isHub(keyHost(k))));
}

/** Runs `docker-credential-<helper> get` for `serverUrl`; undefined when it has nothing stored. */
export function runCredentialHelper(helper: string, serverUrl: string, timeoutMs = 10_000): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    return Promise.reject(new OciError("CREDENTIALS", `invalid credential helper name ${JSON.stringify(helper.slice(0, 50))}`));
  }
  const bin = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = execFile(bin, ["get"], { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) {
        // "credentials not found" is the protocol's way of saying "nothing stored".
        if (/credentials not found/i.test(String(stdout)) || /credentials not found/i.test(err.message)) return resolve(undefined);
        // stderr/stdout may echo secrets: report only the helper name and exit status.
        const code = (err as NodeJS.ErrnoException).code;
        return reject(new OciError("CREDENTIALS", `${bin} failed (${code === "ENOENT" ? "not found on PATH" : `exit ${String(code ?? "?")}`})`));
      }
      try {
        const out = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!out.Secret) return resolve(undefined);
        // Username "<token>" marks an identity (refresh) token, per the helper protocol.
        if (out.Username === "<token>") return resolve({ identityToken: out.Secret });
        resolve({ username: out.Username ?? "", password: out.Secret });
      } catch {
        reject(new OciError("CREDENTIALS", `${bin} answered with invalid JSON`));
      }
    });
    child.stdin?.end(serverUrl);
  });
}

/** Resolves credentials for `host` from a parsed config. */
export async function credentialsFromDockerConfig(config: DockerConfigFile, host: string): Promise<Credentials | undefined> {
  const helperKey = findKey(config.credHelpers, host);
  const helper = helperKey ? config.credHelpers?.[helperKey] : config.credsStore;
  if (helper) {
    const serverUrl = isHub(host) ? HUB_KEY : (findKey(config.auths, host) ?? host);
    const viaHelper = await runCredentialHelper(helper, serverUrl);
    if (viaHelper || helperKey) return viaHelper;
  }
  const key = findKey(config.auths, host);
  const entry = key ? config.auths?.[key] : undefined;
  if (!entry) return undefined;
  if (entry.registrytoken) return { registryToken: entry.registrytoken };
  if (entry.identitytoken) return { identityToken: entry.identitytoken, ...(entry.username ? { username: entry.username } : {}) };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    if (i < 0) throw new OciError("CREDENTIALS", `Docker config entry for ${host} has a malformed "auth" value`);
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  if (entry.username && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** A CredentialSource reading config.json (re-read on refresh, so `docker login` takes effect). */
export function dockerConfigCredentials(host: string, file?: string): CredentialSource {
  let cached: Promise<Credentials | undefined> | undefined;
  const load = () => readDockerConfig(file).then((c) => credentialsFromDockerConfig(c, host));
  return {
    get() {
      cached ??= load();
      return cached;
    },
    refresh() {
      cached = load();
      return cached;
    },
  };
}
