/**
 * The `alerts` section of the config file: webhooks told when a registry starts failing, recovers,
 * or has not synced successfully for longer than a threshold (lib/alerts does the work).
 *
 * A webhook's signing secret is given inline (`secret`) or, better, by the name of an environment
 * variable (`secretEnv`) so the file can be committed. Either way it is checked here and resolved by
 * `resolveAlertSecrets` at load, and no error message ever shows its value.
 */
import { z } from "zod";
import { AppError } from "../errors";
import { formatDuration, parseDuration } from "../sync/duration";

export const ALERT_EVENTS = ["failure", "recovery", "freshness"] as const;
export type AlertEventType = (typeof ALERT_EVENTS)[number];

/** Shortest accepted secret: HMAC keys shorter than this are guessable. */
export const MIN_SECRET_LENGTH = 16;

const DURATION_HINT = 'a duration such as "30s", "6h" or a number of milliseconds';

const duration = (min: number, max: number) =>
  z.union([z.number(), z.string()], { error: `expected ${DURATION_HINT}` }).transform((v, ctx) => {
    const ms = typeof v === "number" ? v : parseDuration(v);
    if (ms === undefined || !Number.isInteger(ms)) {
      ctx.addIssue({ code: "custom", message: `expected ${DURATION_HINT}` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: "custom", message: `expected a duration between ${formatDuration(min)} and ${formatDuration(max)}` });
      return z.NEVER;
    }
    return ms;
  });

const webhookSchema = z
  .object({
    /** Stable id of the webhook: alert state and delivery history are kept under it. */
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, { error: "expected a name of letters, digits, '.', '_' or '-' (at most 63)" }),
    url: z.string().refine(
      (v) => {
        try {
          const u = new URL(v);
          return (u.protocol === "http:" || u.protocol === "https:") && !u.username && !u.password;
        } catch {
          return false;
        }
      },
      { error: "expected an http:// or https:// URL without user:password" },
    ),
    secret: z.string().min(MIN_SECRET_LENGTH, { error: `expected a secret of at least ${MIN_SECRET_LENGTH} characters` }).optional(),
    secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected the name of an environment variable" }).optional(),
    /** `all`, or the names of the registries this webhook hears about. */
    registries: z.union([z.literal("all"), z.array(z.string().min(1)).min(1)], { error: "expected all or a list of registry names" }).default("all"),
    events: z.array(z.enum(ALERT_EVENTS, { error: `expected one of ${ALERT_EVENTS.join(", ")}` })).min(1).optional(),
    /** Freshness alert when the last successful sync is older than this. */
    freshnessThreshold: duration(1000, 365 * 86_400_000).optional(),
    /**
     * Failed tasks in a row (no task of the registry succeeding in between) before a task failure
     * is alerted on. Default 2: a task fails only after its own retries, but one repository that
     * fails every round among others that succeed would otherwise flip the registry between
     * failing and healthy each round, sending a failure and a recovery every time. Needing two
     * failures with no success between them ignores that lone failure while a registry whose
     * tasks all fail is still reported one task later. 1 alerts on the first failed task.
     * Catalog failures (the upstream cannot be listed at all) are registry-wide and always alert.
     */
    failureAfter: z.coerce.number().int().min(1, { error: "expected 1 to 100" }).max(100, { error: "expected 1 to 100" }).default(2),
    /** Delivery attempts before giving up on an event (the first included). */
    maxAttempts: z.coerce.number().int().min(1, { error: "expected 1 to 20" }).max(20, { error: "expected 1 to 20" }).default(8),
    /** Wait before the second attempt; doubles for each attempt after, capped at an hour. */
    retryDelay: duration(100, 3_600_000).default(10_000),
    /** Per attempt: connect, headers and body together. */
    timeout: duration(100, 120_000).default(10_000),
  })
  .strict()
  .superRefine((w, ctx) => {
    if ((w.secret === undefined) === (w.secretEnv === undefined)) {
      ctx.addIssue({ code: "custom", path: ["secret"], message: "expected exactly one of secret or secretEnv" });
    }
    if (w.events?.includes("freshness") && w.freshnessThreshold === undefined) {
      ctx.addIssue({ code: "custom", path: ["freshnessThreshold"], message: "expected a threshold: events lists freshness" });
    }
  })
  // Default events: failure and recovery, plus freshness when a threshold is set.
  .transform(({ events, ...w }) => ({
    ...w,
    events: events ?? (w.freshnessThreshold !== undefined ? [...ALERT_EVENTS] : (["failure", "recovery"] as AlertEventType[])),
  }));

export const alertsSchema = z
  .object({
    /** How often every process re-checks registry health (events from the scheduler also trigger a check). */
    evaluateInterval: duration(100, 3_600_000).default(15_000),
    webhooks: z.array(webhookSchema).default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    const seen = new Set<string>();
    a.webhooks.forEach((w, i) => {
      if (seen.has(w.name)) ctx.addIssue({ code: "custom", path: ["webhooks", i, "name"], message: `expected a unique name (${w.name} is declared twice)` });
      seen.add(w.name);
    });
  });

export type AlertsConfig = z.output<typeof alertsSchema>;
export type WebhookConfig = AlertsConfig["webhooks"][number];

/** Environment variables named by `secretEnv`: accepted even when they start with FERRY_. */
export function secretEnvNames(raw: unknown): string[] {
  const hooks = (raw as { alerts?: { webhooks?: unknown } } | undefined)?.alerts?.webhooks;
  if (!Array.isArray(hooks)) return [];
  return hooks.map((h) => (h as { secretEnv?: unknown } | null)?.secretEnv).filter((n): n is string => typeof n === "string");
}

/**
 * Replaces each `secretEnv` by the variable's value (as `secret`). A missing or short value is a
 * configuration error naming the variable, never showing what it holds.
 */
export function resolveAlertSecrets(alerts: AlertsConfig, env: Record<string, string | undefined>): AlertsConfig {
  return {
    ...alerts,
    webhooks: alerts.webhooks.map((w, i) => {
      if (w.secretEnv === undefined) return w;
      const value = env[w.secretEnv];
      if (!value || value.length < MIN_SECRET_LENGTH) {
        throw new AppError(
          "CONFIG_INVALID",
          `Invalid configuration: alerts.webhooks.${i}.secretEnv=${w.secretEnv}: expected the environment variable to hold a secret of at least ${MIN_SECRET_LENGTH} characters`,
          { details: { key: `alerts.webhooks.${i}.secretEnv` } },
        );
      }
      return { ...w, secret: value };
    }),
  };
}

/** Where an exported webhook whose secret was inline expects it: the secret itself is never exported. */
export const exportedSecretEnv = (webhook: string) => `FERRY_ALERT_SECRET_${webhook.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

/**
 * The `alerts` section of a config file as `ferry config export` writes it: as written (durations
 * stay "30s"), checked first, with every inline `secret` replaced by a `secretEnv` placeholder.
 * Not a literal placeholder string: one that long enough to pass would quietly become a known
 * signing key, while an unset variable stops Ferry at start naming it. `omitted` lists those webhooks.
 */
export function exportAlerts(rawAlerts: unknown): { alerts: Record<string, unknown>; omitted: Array<{ webhook: string; secretEnv: string }> } {
  const parsed = alertsSchema.safeParse(rawAlerts ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // Zod's message never carries the value (a secret too short is only "expected … characters").
    throw new AppError("CONFIG_INVALID", `Invalid configuration: alerts.${issue.path.join(".")}: ${issue.message}`);
  }
  const raw = (rawAlerts ?? {}) as Record<string, unknown>;
  const omitted: Array<{ webhook: string; secretEnv: string }> = [];
  const webhooks = ((raw.webhooks as Array<Record<string, unknown>> | undefined) ?? []).map(({ secret, ...w }) => {
    if (secret === undefined) return w;
    const secretEnv = exportedSecretEnv(String(w.name));
    omitted.push({ webhook: String(w.name), secretEnv });
    return { ...w, secretEnv };
  });
  return { alerts: { ...raw, webhooks }, omitted };
}
