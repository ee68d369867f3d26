import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AppError } from "../errors";

/** Where the key came from: the environment (production) or a generated file (development). */
export type SecretKeySource = "env" | "file" | "generated";

export interface SecretKey {
  key: Buffer;
  source: SecretKeySource;
  /** The key file, when the key lives in one. */
  file?: string;
}

/**
 * Decodes a 32-byte key written as 64 hex digits or base64 (standard or url-safe). The error
 * says what is wrong without echoing any part of the value.
 */
export function decodeSecretKey(text: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, "hex");
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    if (b.length === 32) return b;
  }
  throw new AppError("CONFIG_INVALID", "Invalid configuration: FERRY_SECRET_KEY: expected 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)");
}

/**
 * The key that encrypts upstream credentials. From FERRY_SECRET_KEY when set; otherwise from
 * `<dataDir>/secret.key`, generated (mode 0600) on first use with a warning, which suits one
 * machine in development. Several hosts sharing a database must share one FERRY_SECRET_KEY,
 * or each would write boxes the others cannot open.
 */
export function loadSecretKey(options: { configured?: string | undefined; dataDir: string; warn?: (msg: string) => void }): SecretKey {
  if (options.configured) return { key: decodeSecretKey(options.configured), source: "env" };
  const file = path.join(options.dataDir, "secret.key");
  try {
    const text = readFileSync(/* turbopackIgnore: true */ file, "utf8");
    const mode = statSync(/* turbopackIgnore: true */ file).mode & 0o077;
    if (mode !== 0) options.warn?.(`${file} is readable by other users; chmod 600 it`);
    return { key: decodeSecretKey(text), source: "file", file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  mkdirSync(/* turbopackIgnore: true */ options.dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    // `wx`: when two processes race, one writes and the other reads what it wrote.
    writeFileSync(/* turbopackIgnore: true */ file, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
    chmodSync(/* turbopackIgnore: true */ file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadSecretKey(options);
    throw err;
  }
  options.warn?.(`FERRY_SECRET_KEY is not set: generated ${file} to encrypt upstream credentials. Set FERRY_SECRET_KEY in production (all Ferry processes need the same key).`);
  return { key, source: "generated", file };
}
