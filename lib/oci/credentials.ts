/**
 * Where credentials come from. A client has at most one source: static credentials from Ferry's
 * config, a CredentialHelper for short-lived tokens (ECR, OAuth2), or a Docker config.json.
 * Sources are asked lazily and asked again (`refresh`) once when the registry rejects what they gave.
 */
import { OciError } from "./errors";

/** Username/password, an OAuth2 refresh token (`identitytoken`), or a ready bearer token. */
export type Credentials =
  | { username: string; password: string }
  | { identityToken: string; username?: string }
  | { registryToken: string };

/** Credentials keyed by registry URL or host, as a CredentialHelper returns them. */
export type CredentialsFile = Record<string, Credentials>;

/**
 * Short-lived credentials (the seed's interface): checked before use, refreshed when expired or
 * rejected. Methods may be sync or async.
 */
export interface CredentialHelper {
  /** Whether the credentials for `url` are still valid (not expired). */
  areCredentialsValid(url: string): boolean | Promise<boolean>;
  /** Credentials for each of `urls`, keyed by the url. */
  getCredentials(urls: string[]): CredentialsFile | Promise<CredentialsFile>;
  /** New credentials for `url`. */
  refreshCredentials(url: string): Credentials | Promise<Credentials>;
}

/** What the auth layer asks for credentials. */
export interface CredentialSource {
  get(): Promise<Credentials | undefined>;
  /** Called once after the registry rejected the current credentials; may return the same. */
  refresh(): Promise<Credentials | undefined>;
}

/** Fixed credentials (or none). */
export function staticCredentials(creds: Credentials | undefined): CredentialSource {
  return { get: async () => creds, refresh: async () => creds };
}

/** Looks `url` up in a credentials map by exact url, then by host. */
export function pickCredentials(file: CredentialsFile, url: string): Credentials | undefined {
  if (file[url]) return file[url];
  const host = new URL(url).host;
  for (const [key, value] of Object.entries(file)) {
    const k = key.includes("://") ? safeHost(key) : key.split("/")[0];
    if (k === host) return value;
  }
  return undefined;
}

function safeHost(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** Credentials from a CredentialHelper, re-fetched whenever it says they expired. */
export function helperCredentials(helper: CredentialHelper, url: string): CredentialSource {
  let current: Credentials | undefined;
  let loaded = false;
  const wrap = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      // The helper's error text may quote secrets (tokens, keys): keep it as cause only.
      throw new OciError("CREDENTIALS", `credential helper failed for ${new URL(url).host}`, { cause: err });
    }
  };
  return {
    async get() {
      if (!loaded) {
        current = pickCredentials(await wrap(() => helper.getCredentials([url])), url);
        loaded = true;
      } else if (current && !(await wrap(() => helper.areCredentialsValid(url)))) {
        current = await wrap(() => helper.refreshCredentials(url));
      }
      return current;
    },
    async refresh() {
      current = await wrap(() => helper.refreshCredentials(url));
      loaded = true;
      return current;
    },
  };
}

/** A short stable identity for cache keys that never contains the secret itself. */
export function credentialIdentity(creds: Credentials | undefined): string {
  if (!creds) return "anonymous";
  if ("username" in creds && creds.username && "password" in creds) return `basic:${creds.username}`;
  if ("identityToken" in creds) return `identity:${creds.username ?? ""}`;
  return "registry-token";
}
