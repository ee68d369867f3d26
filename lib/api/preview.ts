/**
 * "Test connection" and the content-rules dry run for the registry editor. Both take a registry
 * config as the editor has it (unsaved), validated exactly like createRegistry, and talk to the
 * upstream read-only: `/v2/`, the catalog and tag lists, nothing else. Nothing is stored.
 *
 * An upstream failure is a result (`ok: false` with the code and message), not an API error: the
 * question "does this config work?" was answered. An invalid config is an error (400 with the
 * field issues), like saving it would be.
 */
import { isAppError } from "../errors";
import { ContentRules, filterTags, parseRegistryConfig, Remote, selectLatest, type RegistryConfig } from "../sync";
import type { ApiEnv } from "./env";
import { registryConfigWithSecrets } from "./registries";

/** Bounds so a preview of a huge upstream stays a preview. */
const MAX_CATALOG = 1000;
const MAX_REPOS_WITH_TAGS = 25;
const MAX_TAGS_SHOWN = 100;
const TIMEOUT_MS = 20_000;

export interface ConnectionResult {
  ok: boolean;
  url: string;
  latencyMs: number;
  auth: string | null;
  errorCode: string | null;
  errorMessage: string | null;
}

export interface PreviewRepo {
  upstream: string;
  /** Where it lands in Ferry's store, or null when no rule matches (not mirrored). */
  local: string | null;
  tagsTotal: number;
  tags: Array<{ tag: string; keep: boolean; reason: string | null }>;
  tagsError: string | null;
}

export interface PreviewResult {
  connection: ConnectionResult;
  catalogSize: number;
  catalogTruncated: boolean;
  matched: number;
  repositories: PreviewRepo[];
  /** Repositories matched but not listed with tags (beyond MAX_REPOS_WITH_TAGS). */
  moreMatched: number;
  notes: string[];
}

/** The config to preview: the editor's input, with the stored secrets when it names an existing registry and leaves them out. */
async function configFor(env: ApiEnv, input: Record<string, unknown>, existing?: string): Promise<RegistryConfig> {
  const { enabled: _enabled, ...rest } = input;
  let full = rest;
  if (existing) {
    const stored = await registryConfigWithSecrets(env, existing).catch(() => ({}) as Record<string, unknown>);
    full = { ...rest, name: existing };
    for (const f of ["credentials", "clientKey"]) if (rest[f] === undefined && stored[f] !== undefined) full[f] = stored[f];
    for (const f of ["credentials", "clientKey"]) if (full[f] === null) delete full[f];
  }
  return parseRegistryConfig(full);
}

function describe(err: unknown): { code: string; message: string } {
  const code = (err as { code?: unknown }).code;
  return { code: typeof code === "string" ? code : "INTERNAL", message: isAppError(err) || err instanceof Error ? (err as Error).message : String(err) };
}

async function connect(remote: Remote, url: string, signal: AbortSignal): Promise<ConnectionResult> {
  const t0 = Date.now();
  try {
    const r = await remote.use((c) => c.ping({ signal }));
    return { ok: true, url, latencyMs: Date.now() - t0, auth: r.auth, errorCode: null, errorMessage: null };
  } catch (err) {
    const d = describe(err);
    return { ok: false, url, latencyMs: Date.now() - t0, auth: null, errorCode: d.code, errorMessage: d.message };
  }
}

/** Whether the upstream answers `/v2/` with this config's urls, TLS settings and credentials. */
export async function testRegistryConnection(env: ApiEnv, input: Record<string, unknown>, existing?: string): Promise<ConnectionResult> {
  const config = await configFor(env, input, existing);
  const remote = new Remote(config, { userAgent: "ferry-preview" });
  try {
    return await connect(remote, config.urls[0]!, AbortSignal.timeout(TIMEOUT_MS));
  } finally {
    await remote.close().catch(() => {});
  }
}

/**
 * The dry run: which upstream repositories the content rules select, under which local names, and
 * which of their tags would be synced (regex, excludeRegex, semver, latest-by-semver). `latest`
 * by `created` needs image reads and is only noted.
 */
export async function previewRegistry(env: ApiEnv, input: Record<string, unknown>, existing?: string): Promise<PreviewResult> {
  const config = await configFor(env, input, existing);
  const remote = new Remote(config, { userAgent: "ferry-preview" });
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  const notes: string[] = [];
  try {
    const connection = await connect(remote, config.urls[0]!, signal);
    const empty: PreviewResult = { connection, catalogSize: 0, catalogTruncated: false, matched: 0, repositories: [], moreMatched: 0, notes };
    if (!connection.ok) return empty;
    let catalog: string[] = [];
    let truncated = false;
    try {
      catalog = await remote.use(async (c) => {
        const out: string[] = [];
        for await (const page of c.catalog({ signal })) {
          out.push(...page);
          if (out.length >= MAX_CATALOG) {
            truncated = true;
            break;
          }
        }
        return out.slice(0, MAX_CATALOG);
      });
    } catch (err) {
      const d = describe(err);
      return { ...empty, connection: { ...connection, ok: false, errorCode: d.code, errorMessage: `catalog: ${d.message}` } };
    }
    const rules = new ContentRules(config.content);
    const all = catalog.map((upstream) => ({ upstream, local: rules.localRepoFor(upstream) }));
    const matched = all.filter((r) => r.local !== null);
    const repositories: PreviewRepo[] = [];
    for (const r of matched.slice(0, MAX_REPOS_WITH_TAGS)) {
      const rule = rules.ruleFor(r.upstream);
      try {
        const tags = await remote.use((c) => c.listTags(r.upstream, { signal }));
        const decisions = filterTags(tags, rule?.tags);
        const latest = rule?.tags?.latest;
        const reasons = new Map<string, string>();
        if (latest?.by === "semver") {
          const { dropped } = await selectLatest(decisions.filter((d) => d.keep).map((d) => d.tag), latest);
          for (const d of dropped) reasons.set(d.tag, d.reason);
        } else if (latest?.by === "created") {
          notes.push(`${r.upstream}: tags.latest by created is decided at sync time (it reads each image's config)`);
        }
        const shown = decisions.map((d) => {
          const why = d.keep ? (reasons.get(d.tag) ?? null) : d.reason;
          return { tag: d.tag, keep: why === null, reason: why };
        });
        shown.sort((a, b) => Number(b.keep) - Number(a.keep) || a.tag.localeCompare(b.tag));
        repositories.push({ upstream: r.upstream, local: r.local, tagsTotal: tags.length, tags: shown.slice(0, MAX_TAGS_SHOWN), tagsError: null });
      } catch (err) {
        repositories.push({ upstream: r.upstream, local: r.local, tagsTotal: 0, tags: [], tagsError: describe(err).message });
      }
    }
    const unmatched = all.filter((r) => r.local === null).slice(0, 50);
    for (const r of unmatched) repositories.push({ upstream: r.upstream, local: null, tagsTotal: 0, tags: [], tagsError: null });
    const onDemandOnly = matched.filter((r) => !rules.inRounds(r.upstream)).length;
    if (onDemandOnly > 0) notes.push(`periodic: false: ${onDemandOnly} of the ${matched.length} matching repositories are served on demand only (rounds skip them)`);
    if (config.onlySigned) notes.push("onlySigned: unsigned images are skipped at sync time (not checked by the preview)");
    if (config.content.some((c) => c.platforms)) notes.push("platforms: indexes are filtered to the listed platforms at sync time");
    return { connection, catalogSize: catalog.length, catalogTruncated: truncated, matched: matched.length, repositories, moreMatched: Math.max(0, matched.length - MAX_REPOS_WITH_TAGS), notes };
  } finally {
    await remote.close().catch(() => {});
  }
}
