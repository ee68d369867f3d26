import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { safeEqual } from "./secrets";

/**
 * The one-time setup token. With no FERRY_ADMIN_USER and no users yet, anyone who can reach a
 * fresh Ferry could claim it; requiring a token that only someone with access to the data
 * directory can read (`<dataDir>/setup.token`, mode 0600) closes that window.
 */
export function setupTokenFile(dataDir: string): string {
  return path.join(dataDir, "setup.token");
}

/** Reads the setup token, creating it on first use. */
export function ensureSetupToken(dataDir: string): { file: string; created: boolean } {
  const file = setupTokenFile(dataDir);
  try {
    readFileSync(/* turbopackIgnore: true */ file, "utf8");
    return { file, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  mkdirSync(/* turbopackIgnore: true */ dataDir, { recursive: true });
  try {
    writeFileSync(/* turbopackIgnore: true */ file, randomBytes(24).toString("base64url") + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return { file, created: true };
}

export function checkSetupToken(dataDir: string, given: string): boolean {
  try {
    const expected = readFileSync(/* turbopackIgnore: true */ setupTokenFile(dataDir), "utf8").trim();
    return expected.length > 0 && safeEqual(given.trim(), expected);
  } catch {
    return false;
  }
}
