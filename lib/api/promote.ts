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

export async function promoteRepository(env: ApiEnv, name: string, repository: string): Promise<PromotionView> {
  // Read-modify-write of the registry's config under its row lock: concurrent promotions (and
  // registry edits, whose UPDATE waits for the lock) cannot lose each other's rules.
  const { row, result } = await env.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM registry WHERE name = ${name} FOR UPDATE`;
    const row = await tx.registry.findUnique({ where: { name }, omit: { secret: false } });
    if (!row) throw new AppError("NOT_FOUND", `registry ${name} does not exist`);
    const { [SOURCE_KEY]: source, ...config } = row.config as Record<string, unknown>;
    if (source === "config-file") {
      // The next start (or SIGHUP) would put the file's rules back and silently undo this.
      throw new AppError("CONFLICT", `registry ${name} is managed by the config file: add a content rule for this repository there`, { details: { registry: name } });
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
      const rule = (rawContent[plan.index] as Record<string, unknown> | undefined) ?? { prefix: "**" };
      return { row, result: { upstreamRepository: plan.upstreamRepo, added: false, rule } };
    }
    const next = { ...config, content: [...rawContent.slice(0, plan.index), plan.rule, ...rawContent.slice(plan.index)] };
    // Validated like any registry edit, and proven to do what it says before it is stored.
    const check = new ContentRules(parseRegistryConfig({ ...next, name, ...secrets }).content);
    if (check.localRepoFor(plan.upstreamRepo) !== repository || !check.inRounds(plan.upstreamRepo)) {
      throw new AppError("INTERNAL", `promoting ${repository} of ${name} would not map it to itself`);
    }
    const updated = await tx.registry.update({ where: { id: row.id }, data: { config: next as Prisma.InputJsonValue }, omit: { secret: false } });
    return { row: updated, result: { upstreamRepository: plan.upstreamRepo, added: true, rule: plan.rule as Record<string, unknown> } };
  });
  return { registry: await registryView(env.db, row), repository, ...result };
}
