/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser). When the binary is
 * missing the UI suites skip with a loud message, except under CI=true where that fails the run
 * (`.ci/run` installs the `chromium` package).
 */
import { existsSync } from "node:fs";
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type ConsoleMessage, type Page } from "playwright-core";

export const CHROMIUM_BIN = process.env.FERRY_TEST_CHROMIUM ?? "/usr/bin/chromium";

export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_BIN)) return true;
  const msg = `chromium not found at ${CHROMIUM_BIN}: install it (apt-get install chromium)`;
  if (process.env.CI === "true") throw new Error(`${msg}; CI requires it`);
  console.warn(`\n!!! SKIPPING browser tests: ${msg}\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Where screenshots go: FERRY_UI_SCREENSHOTS, else test-output/ui under the OS temp dir. */
export function screenshotDir(): string {
  const dir = process.env.FERRY_UI_SCREENSHOTS ?? path.join(os.tmpdir(), "ferry-test-output", "ui");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Console errors and uncaught page errors, for the "no console errors" check. Failed HTTP
 * requests the test provokes on purpose (a wrong password, an invalid registry) make Chromium log
 * "Failed to load resource"; the UI shows those errors, so they are not counted.
 */
export function watchConsole(page: Page, into: string[]): void {
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) into.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => into.push(`${page.url()}: uncaught ${e.message}`));
}

/** Form fields without an accessible name (label element, aria-label or aria-labelledby). */
export function unlabelledFields(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>("input, select, textarea")]
      .filter((el) => el.type !== "hidden")
      .filter((el) => !(el.labels && el.labels.length > 0) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

/**
 * Presses Tab until focus comes back around and returns the visible interactive elements that
 * never received focus (each described by tag and text).
 */
export async function unreachableByKeyboard(page: Page): Promise<string[]> {
  await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    document.querySelectorAll("[data-kbd-seen]").forEach((e) => e.removeAttribute("data-kbd-seen"));
  });
  // Chromium stops on each part of a date/time input (month, day, year, hour, minute, AM/PM).
  const total = await page.evaluate(
    () => document.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]").length + 6 * document.querySelectorAll('input[type="datetime-local"], input[type="date"], input[type="time"]').length,
  );
  for (let i = 0; i < total + 10; i++) {
    await page.keyboard.press("Tab");
    await page.evaluate(() => document.activeElement?.setAttribute("data-kbd-seen", "1"));
  }
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>("a[href], button, input, select, textarea, summary")]
      .filter((el) => {
        const r = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        return r.width > 0 && r.height > 0 && style.visibility !== "hidden" && !(el as HTMLButtonElement).disabled && !el.classList.contains("skip");
      })
      .filter((el) => !el.hasAttribute("data-kbd-seen"))
      .map((el) => `${el.tagName.toLowerCase()} "${(el.textContent ?? el.getAttribute("name") ?? "").trim().slice(0, 40)}"`),
  );
}
