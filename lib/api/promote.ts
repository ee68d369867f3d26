/**
 * Promotion: a repository that came on demand joins the periodic rounds. The registry gets one
 * content rule for exactly that upstream repository (lib/sync planPromotion: same local name,
 * same tag filters and platforms as the rule serving it now, placed just before that rule), and
 * nothing else changes. Idempotent: when rounds already cover the repository nothing is written.
 */
import type { Prisma } from "../db/generated/client";
import { AppError } from "../errors";
import { SOURCE_KEY } from "../mirror/apply-config";
import { openJson, registrySecretAad, type RegistrySecret } from "../secrets";
import { ContentRules, parseRegistryConfig, planPromotion } from "../sync";
import type { ApiEnv } from "./env";
import { registryView, type RegistryView } from "./registries";

export interface PromotionView {
  registry: RegistryView;
  /** The local repository that was promoted. */
  repository: string;
  /** Where it comes from upstream. */
  upstreamRepository: string;
  /** False when periodic rounds already covered it (nothing changed). */
  added: boolean;
  /** The content rule that now puts it in rounds (the new one, or the one that already did). */
  rule: Record<string, unknown>;
}

/** Concurrent edits of the same registry: retry the read-modify-write this many times. */
const ATTEMPTS = 3;

export async function promoteRepository(env: ApiEnv, name: string, repository: string): Promise<PromotionView> {
  for (let attempt = 1; ; attempt++) {
    const row = await env.db.registry.findUnique({ where: { name }, omit: { secret: false } });
    if (!row) throw new AppError("NOT_FOUND", `registry ${name} does not exist`);
    const { [SOURCE_KEY]: source, ...config } = row.config as Record<string, unknown>;
    if (source === "config-file") {
      // The next start (or SIGHUP) would put the file's rules back and silently undo this.
      throw new AppError("CONFLICT", `registry ${name} is managed by the config file: add a content rule with prefix for this repository there`, { details: { registry: name } });
    }
    const secrets = row.secret ? openJson<RegistrySecret>(env.secretKey, row.secret, registrySecretAad(row.id)) : {};
    const parsed = parseRegistryConfig({ ...config, name, ...secrets });
    if (!parsed.pollIntervalMs) {
      throw new AppError("CONFLICT", `registry ${name} has no pollInterval, so it runs no periodic rounds: set pollInterval (e.g. "6h") before promoting repositories`, {
        details: { registry: name, field: "pollInterval" },
      });
    }
    const plan = planPromotion(parsed.content, repository);
    if (!plan) throw new AppError("NOT_FOUND", `no content rule of registry ${name} maps ${repository}`, { details: { registry: name, repository } });
    const rawContent = Array.isArray(config.content) ? (config.content as unknown[]) : [];
    if (!plan.rule) {
      return { registry: await registryView(env.db, row), repository, upstreamRepository: plan.upstreamRepo, added: false, rule: (rawContent[plan.index] as Record<string, unknown> | undefined) ?? { prefix: "**" } };
    }
    const content = [...rawContent.slice(0, plan.index), plan.rule, ...rawContent.slice(plan.index)];
    const next = { ...config, content };
    // Validated like any registry edit, and proven to do what it says before it is stored.
    const check = new ContentRules(parseRegistryConfig({ ...next, name, ...secrets }).content);
    if (check.localRepoFor(plan.upstreamRepo) !== repository || !check.inRounds(plan.upstreamRepo)) {
      throw new AppError("INTERNAL", `promoting ${repository} of ${name} would not map it to itself`);
    }
    // Optimistic: written only if nobody changed the registry since it was read.
    const written = await env.db.registry.updateMany({ where: { id: row.id, updatedAt: row.updatedAt }, data: { config: next as Prisma.InputJsonValue } });
    if (written.count === 1) {
      const updated = await env.db.registry.findUniqueOrThrow({ where: { id: row.id }, omit: { secret: false } });
      return { registry: await registryView(env.db, updated), repository, upstreamRepository: plan.upstreamRepo, added: true, rule: plan.rule };
    }
    if (attempt >= ATTEMPTS) throw new AppError("CONFLICT", `registry ${name} kept changing while promoting ${repository}; try again`);
  }
}
