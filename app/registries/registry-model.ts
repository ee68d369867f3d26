/**
 * The registry form's state and its mapping to and from the API's registry input (the zot-style
 * config of lib/sync/config.ts). Secrets (`credentials`, `clientKey`) are write-only: the form
 * starts with them empty and only says whether one is stored; a left-out secret keeps the stored
 * value, `null` removes it.
 */
import type { Registry } from "../_lib/types";

export interface Rule {
  prefix: string;
  destination: string;
  stripPrefix: boolean;
  regex: string;
  excludeRegex: string;
  semver: string;
  latest: string;
  platforms: string;
}

/** Where upstream credentials come from (one source at most, as lib/oci/credentials.ts has it). */
export type CredSource = "none" | "password" | "identityToken" | "registryToken" | "dockerConfig";

/** How the form names each source (its select and its messages). */
export const CRED_SOURCE_LABELS: Record<CredSource, string> = {
  none: "None (anonymous)",
  password: "Username and password",
  identityToken: "Identity (OAuth2 refresh) token",
  registryToken: "Registry bearer token",
  dockerConfig: "Docker config.json (credential helpers)",
};

/** Which secrets the registry has stored (never their values). */
export interface StoredSecrets {
  credentials: Exclude<CredSource, "none" | "dockerConfig"> | null;
  clientKey: boolean;
}

export const NO_SECRETS: StoredSecrets = { credentials: null, clientKey: false };

export interface State {
  name: string;
  urls: string;
  enabled: boolean;
  onDemand: boolean;
  pollInterval: string;
  tlsVerify: boolean;
  caCert: string;
  clientCert: string;
  clientKey: string;
  removeClientKey: boolean;
  maxRetries: string;
  retryDelay: string;
  onlySigned: boolean;
  convertToOCI: boolean;
  credSource: CredSource;
  username: string;
  password: string;
  token: string;
  dockerConfigPath: string;
  rules: Rule[];
}

/** Config keys the form edits; any other key is carried through unchanged. */
const HANDLED = ["name", "urls", "onDemand", "pollInterval", "tlsVerify", "caCert", "clientCert", "clientKey", "maxRetries", "retryDelay", "onlySigned", "convertToOCI", "content", "credentials", "dockerConfig"];
export const EMPTY_RULE: Rule = { prefix: "", destination: "", stripPrefix: false, regex: "", excludeRegex: "", semver: "", latest: "", platforms: "" };

type RawRule = { prefix?: string; destination?: string; stripPrefix?: boolean; tags?: { regex?: string; excludeRegex?: string; semver?: boolean | string; latest?: number | { count: number; by?: string } }; platforms?: string[] };

/** Config keys the form has no field for, to send back as they were. */
export function extraConfig(r: Registry | null): Record<string, unknown> {
  return Object.fromEntries(Object.entries((r?.config ?? {}) as Record<string, unknown>).filter(([k]) => !HANDLED.includes(k)));
}

export function fromConfig(r: Registry | null, secrets: StoredSecrets): State {
  const c = (r?.config ?? {}) as Record<string, unknown> & { urls?: string[]; content?: RawRule[] };
  const str = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  return {
    name: r?.name ?? "",
    urls: (c.urls ?? []).join("\n"),
    enabled: r?.enabled ?? true,
    onDemand: c.onDemand === true,
    pollInterval: str(c.pollInterval ?? (r ? "" : "6h")),
    tlsVerify: c.tlsVerify !== false,
    caCert: str(c.caCert),
    clientCert: str(c.clientCert),
    clientKey: "",
    removeClientKey: false,
    maxRetries: str(c.maxRetries),
    retryDelay: str(c.retryDelay),
    onlySigned: c.onlySigned === true,
    convertToOCI: c.convertToOCI === true,
    credSource: c.dockerConfig !== undefined ? "dockerConfig" : (secrets.credentials ?? "none"),
    username: "",
    password: "",
    token: "",
    dockerConfigPath: typeof c.dockerConfig === "string" ? c.dockerConfig : "",
    rules: (c.content ?? []).map((x) => ({
      prefix: x.prefix ?? "",
      destination: x.destination ?? "",
      stripPrefix: x.stripPrefix === true,
      regex: x.tags?.regex ?? "",
      excludeRegex: x.tags?.excludeRegex ?? "",
      semver: x.tags?.semver === undefined ? "" : String(x.tags.semver),
      latest: x.tags?.latest === undefined ? "" : typeof x.tags.latest === "number" ? String(x.tags.latest) : String(x.tags.latest.count),
      platforms: (x.platforms ?? []).join(", "),
    })),
  };
}

const numOrRaw = (v: string) => (/^\d+$/.test(v.trim()) ? Number(v.trim()) : v.trim());

/** `credentials` for the input: a new value, null to remove the stored one, or undefined to keep it. */
function credentialsInput(s: State, stored: StoredSecrets): Record<string, unknown> | null | undefined {
  switch (s.credSource) {
    case "password":
      if (s.username || s.password) return { username: s.username, password: s.password };
      break;
    case "identityToken":
      if (s.token) return { identityToken: s.token, ...(s.username ? { username: s.username } : {}) };
      break;
    case "registryToken":
      if (s.token) return { registryToken: s.token };
      break;
    default:
      // No credentials, or a Docker config.json (its helpers) instead: drop stored ones.
      return stored.credentials ? null : undefined;
  }
  // Nothing typed: keep what is stored, unless it is of another kind than the one chosen (the
  // API then reports the missing value under `credentials`).
  return stored.credentials === s.credSource ? undefined : {};
}

/**
 * Why the form cannot be sent as it is, for the credentials field; null when it can. Stored
 * credentials are kept only while their own kind is chosen: choosing another static kind replaces
 * them, so it needs the new value. Said here, before sending, rather than as the API's bare
 * "credentials" error, and naming how to keep what is stored.
 */
export function credentialsProblem(s: State, stored: StoredSecrets): string | null {
  if (s.credSource !== "password" && s.credSource !== "identityToken" && s.credSource !== "registryToken") return null;
  if (stored.credentials === s.credSource) return null;
  if (s.credSource === "password" ? s.username || s.password : s.token) return null;
  const what = s.credSource === "password" ? "a username and password" : "the token";
  const keep = stored.credentials ? `choose "${CRED_SOURCE_LABELS[stored.credentials]}" again to keep the stored credentials` : `choose "${CRED_SOURCE_LABELS.none}"`;
  return `Enter ${what} for "${CRED_SOURCE_LABELS[s.credSource]}", or ${keep}.`;
}

/** The API input for the form's state; `extra` keeps config keys the form has no field for. */
export function toInput(s: State, extra: Record<string, unknown>, stored: StoredSecrets): Record<string, unknown> {
  const out: Record<string, unknown> = { ...extra, name: s.name.trim(), enabled: s.enabled, urls: s.urls.split(/\s+/).map((u) => u.trim()).filter(Boolean) };
  if (s.onDemand) out.onDemand = true;
  if (s.pollInterval.trim()) out.pollInterval = numOrRaw(s.pollInterval);
  if (!s.tlsVerify) out.tlsVerify = false;
  if (s.caCert.trim()) out.caCert = s.caCert.trim() + "\n";
  if (s.clientCert.trim()) out.clientCert = s.clientCert.trim() + "\n";
  if (s.clientKey.trim()) out.clientKey = s.clientKey.trim() + "\n";
  else if (stored.clientKey && s.removeClientKey) out.clientKey = null;
  if (s.maxRetries.trim()) out.maxRetries = numOrRaw(s.maxRetries);
  if (s.retryDelay.trim()) out.retryDelay = numOrRaw(s.retryDelay);
  if (s.onlySigned) out.onlySigned = true;
  if (s.convertToOCI) out.convertToOCI = true;
  const creds = credentialsInput(s, stored);
  if (creds !== undefined) out.credentials = creds;
  if (s.credSource === "dockerConfig") out.dockerConfig = s.dockerConfigPath.trim() || true;
  if (s.rules.length) {
    out.content = s.rules.map((r) => {
      const tags: Record<string, unknown> = {};
      if (r.regex) tags.regex = r.regex;
      if (r.excludeRegex) tags.excludeRegex = r.excludeRegex;
      if (r.semver.trim()) tags.semver = r.semver.trim() === "true" ? true : r.semver.trim() === "false" ? false : r.semver.trim();
      if (r.latest.trim()) tags.latest = numOrRaw(r.latest);
      const platforms = r.platforms.split(",").map((p) => p.trim()).filter(Boolean);
      return {
        prefix: r.prefix.trim(),
        ...(r.destination.trim() ? { destination: r.destination.trim() } : {}),
        ...(r.stripPrefix ? { stripPrefix: true } : {}),
        ...(Object.keys(tags).length ? { tags } : {}),
        ...(platforms.length ? { platforms } : {}),
      };
    });
  }
  return out;
}
