/**
 * createSyncService: the seed's Service for one registry config, on lib/oci (Remote) and
 * lib/store (Destination).
 *
 * Per tag (periodic) or reference (on demand):
 *   1. HEAD the manifest upstream (one request).
 *   2. Unchanged? The tag state's upstream digest equals it and the store still has the recorded
 *      local digest under the tag (or, without tag state, the store has the tag at that digest).
 *      Then stop: no other request for the image, no write to the store. When the stored tree is
 *      a rewrite (`convertToOCI`, `platforms`) and tag state cannot tell, the stored digest is
 *      predicted from the manifests alone (predict-digest.ts, the seed's GetOCIDigest): still no
 *      blob request and no write.
 *   3. `onlySigned`: no cosign/notation signature → outcome `unsigned`, nothing copied.
 *   4. Stage, copy the tree (copy-image.ts), tag, `commitAll`; `cleanupImage` on any failure. The
 *      whole attempt fails over to the next url on network-class errors (remote.ts); blobs that
 *      already landed are in the store's pool and are linked, not fetched again.
 *   5. Record tag state; then referrers (periodic path, also for unchanged images, because a
 *      signature can be added to an image that did not change). The periodic path hands the
 *      repository's tag listing down, so fallback and cosign tags are looked up only when listed.
 *
 * A failing tag gets a `failed` outcome and the rest of the repository goes on (zot stops).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Dispatcher } from "undici";
import { mapLimit, Semaphore } from "../concurrency";
import { AppError, isAppError } from "../errors";
import { isDigest, isOciError, parseAttachedTag, type CredentialHelper, type FetchedManifest, type PingResult, type RegistryClient, type RetryInfo } from "../oci";
import type { Store } from "../store";
import { CatalogCache } from "./catalog";
import { parseRegistryConfig, type ContentRule, type RegistryConfig, type RegistryConfigInput } from "./config";
import { ContentRules, filterTags, parsePlatform, selectLatest, type PlatformSpec } from "./content-rules";
import { isDockerManifestType } from "./convert-oci";
import { copyTree, mayRewrite, newCounters, type CopyCounters, type CopyEnv, type TreeOptions } from "./copy-image";
import { getOCIDigest } from "./predict-digest";
import { isSigned, syncReferrersOf } from "./referrers";
import { Remote } from "./remote";
import type { SyncContext, SyncImageResult, SyncRepoResult, SyncService, TagOutcome } from "./service-types";
import type { TagStateRecord, TagStateStore } from "./tag-state";

/** What a SyncService needs from the rest of Ferry. */
export interface SyncServiceDeps {
  /** The Destination. */
  store: Store;
  /** Key for per-tag state rows (the registry's database id); defaults to the config name. */
  registryId?: string;
  /** Per-tag state; without it "unchanged" relies on the store alone. */
  tagState?: TagStateStore;
  /** Short-lived credentials (ECR, OAuth2); replaces `credentials` from the config. */
  credentialHelper?: CredentialHelper;
  /** Shared undici dispatcher; by default each url's client owns an Agent. */
  dispatcher?: Dispatcher;
  /** Tags of one repository synced at once (default 4). Blob downloads are bounded separately. */
  tagConcurrency?: number;
  /** How long a failed url is tried last (default 60 s). */
  failoverPenaltyMs?: number;
  /** Clock for tag state timestamps. */
  now?: () => Date;
}

/** An outcome plus what the tag state needs; internal. */
interface TagResult {
  outcome: TagOutcome;
  copied: boolean;
}

/** Creates the Service for one registry; `config` is a parsed config or raw input to parse. */
export function createSyncService(config: RegistryConfig | RegistryConfigInput, deps: SyncServiceDeps): SyncService & SyncServiceExtras {
  const cfg = isParsed(config) ? config : parseRegistryConfig(config);
  return new RegistrySyncService(cfg, deps);
}

/** Ferry additions to the seed's Service. */
export interface SyncServiceExtras {
  readonly config: RegistryConfig;
  /** The primary url's host (seed: GetHostName). */
  readonly hostName: string;
  /** The local repository an upstream one lands in, or null when no rule matches. */
  localRepoFor(upstreamRepo: string): string | null;
  /**
   * Runs `syncImage` on its own context bounded by `syncTimeout`, not tied to the caller's request:
   * a client that disconnects does not cancel the copy (the seed's background context). Concurrent
   * calls for the same image share one run.
   */
  syncImageInBackground(localRepo: string, reference: string, hooks?: Omit<SyncContext, "signal">): Promise<SyncImageResult>;
  /**
   * `GET /v2/` on `config.urls[index]` through that url's own client (its TLS, credentials and
   * dispatcher), without failover: the url health probe (lib/mirror/url-probe.ts) asks each url.
   */
  pingUrl(index: number, opts?: { signal?: AbortSignal }): Promise<PingResult>;
}

function isParsed(c: RegistryConfig | RegistryConfigInput): c is RegistryConfig {
  return typeof (c as RegistryConfig).syncTimeoutMs === "number" && Array.isArray(c.content);
}

class RegistrySyncService implements SyncService, SyncServiceExtras {
  readonly registryName: string;
  private readonly rules: ContentRules;
  private readonly remote: Remote;
  private readonly catalog: CatalogCache;
  private readonly env: CopyEnv;
  private readonly registryId: string;
  private readonly now: () => Date;
  private readonly tagConcurrency: number;
  private readonly background = new Map<string, Promise<SyncImageResult>>();
  /** The operation a client retry belongs to, so its task history can show it. */
  private readonly operation = new AsyncLocalStorage<SyncContext>();
  private closed = false;

  constructor(
    readonly config: RegistryConfig,
    private readonly deps: SyncServiceDeps,
  ) {
    this.registryName = config.name;
    this.registryId = deps.registryId ?? config.name;
    this.rules = new ContentRules(config.content);
    this.remote = new Remote(config, {
      ...(deps.credentialHelper ? { credentialHelper: deps.credentialHelper } : {}),
      ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}),
      ...(deps.failoverPenaltyMs !== undefined ? { penaltyMs: deps.failoverPenaltyMs } : {}),
      onRetry: (info) => this.onRetry(info),
    });
    this.catalog = new CatalogCache(
      () => this.remote.use((c) => c.listRepositories()),
      (name) => this.rules.inRounds(name),
    );
    this.env = { store: deps.store, blobLimit: new Semaphore(config.maxConcurrentRequests), inflight: new Map() };
    this.now = deps.now ?? (() => new Date());
    this.tagConcurrency = deps.tagConcurrency ?? 4;
  }

  get hostName(): string {
    return this.remote.host;
  }

  pingUrl(index: number, opts: { signal?: AbortSignal } = {}): Promise<PingResult> {
    const client = this.remote.clients[index];
    if (!client) return Promise.reject(new AppError("INTERNAL", "no upstream url at this index", { details: { index, urls: this.remote.clients.length } }));
    return client.ping(opts);
  }

  async getNextRepo(lastRepo: string): Promise<string> {
    return (await this.catalog.get()).nextAfter(lastRepo);
  }

  resetCatalog(): void {
    this.catalog.reset();
  }

  canRetryOnError(): boolean {
    return this.config.maxRetries > 0;
  }

  getSyncTimeoutMs(): number {
    return this.config.syncTimeoutMs;
  }

  upstreamRepoFor(localRepo: string): string | null {
    return this.rules.upstreamRepoFor(localRepo);
  }

  localRepoFor(upstreamRepo: string): string | null {
    return this.rules.localRepoFor(upstreamRepo);
  }

  syncRepo(ctx: SyncContext, upstreamRepo: string): Promise<SyncRepoResult> {
    return this.bounded(ctx, `repository ${upstreamRepo}`, (c) => this.syncRepoNow(c, upstreamRepo));
  }

  private async syncRepoNow(ctx: SyncContext, upstreamRepo: string): Promise<SyncRepoResult> {
    const rule = this.rules.ruleFor(upstreamRepo);
    const localRepo = rule ? this.rules.localRepoFor(upstreamRepo) : null;
    if (!rule || !localRepo) {
      throw new AppError("NOT_FOUND", `no content rule of registry ${this.registryName} matches ${upstreamRepo}`, { details: { repository: upstreamRepo } });
    }
    ctx.signal.throwIfAborted();
    const counters = newCounters();
    const all = await this.remote.use((c) => c.listTags(upstreamRepo, { signal: ctx.signal }), this.failoverEvent(ctx));
    // cosign and referrer-fallback tags are synced with their subject, not as tags of their own.
    const userTags = all.filter((t) => parseAttachedTag(t) === undefined).sort();
    const outcomes: TagOutcome[] = [];
    let kept: string[] = [];
    for (const d of filterTags(userTags, rule.tags)) {
      if (d.keep) kept.push(d.tag);
      else outcomes.push({ tag: d.tag, status: "filtered", reason: d.reason });
    }
    if (rule.tags?.latest) {
      const latest = await selectLatest(kept, rule.tags.latest, (tag) => this.createdOf(ctx, upstreamRepo, tag));
      kept = latest.kept;
      for (const x of latest.dropped) outcomes.push({ tag: x.tag, status: "filtered", reason: x.reason });
    }
    ctx.event?.("info", `${upstreamRepo}: ${kept.length} of ${userTags.length} tags to check`, { repository: localRepo });

    // The full listing (cosign and fallback tags included) spares referrer lookups of tags that do not exist.
    const knownTags = new Set(all);
    const results = await mapLimit(kept, this.tagConcurrency, async (tag) => {
      if (ctx.signal.aborted) return null;
      const r = await this.syncTag(ctx, rule, upstreamRepo, localRepo, tag, counters, true, knownTags);
      if (r.outcome.status === "failed") {
        ctx.event?.("warn", `${localRepo}:${tag} failed: ${r.outcome.code}: ${r.outcome.message}`, { repository: localRepo, tag, code: r.outcome.code });
      }
      return r.outcome;
    });
    ctx.signal.throwIfAborted();
    for (const o of results) if (o) outcomes.push(o);
    return { localRepo, outcomes, bytesCopied: counters.bytesCopied, blobsCopied: counters.blobsCopied, blobsSkipped: counters.blobsSkipped };
  }

  syncImage(ctx: SyncContext, localRepo: string, reference: string): Promise<SyncImageResult> {
    return this.bounded(ctx, `image ${localRepo}:${reference}`, (c) => this.syncImageNow(c, localRepo, reference));
  }

  private async syncImageNow(ctx: SyncContext, localRepo: string, reference: string): Promise<SyncImageResult> {
    const { upstreamRepo, rule } = this.route(localRepo);
    const byDigest = isDigest(reference);
    if (!byDigest) {
      const decision = filterTags([reference], rule.tags)[0];
      if (decision && !decision.keep) {
        throw new AppError("NOT_FOUND", `tag ${reference} of ${localRepo} is not mirrored: it ${decision.reason}`, { details: { repository: localRepo, tag: reference } });
      }
    }
    const counters = newCounters();
    const r = await this.syncTag(ctx, rule, upstreamRepo, localRepo, reference, counters, false);
    const o = r.outcome;
    if (o.status === "failed") throw r.error ?? new AppError("UPSTREAM_ERROR", o.message);
    if (o.status === "unsigned") {
      throw new AppError("FORBIDDEN", `${localRepo}:${reference} is not signed and registry ${this.registryName} mirrors only signed images`, {
        details: { reason: "UNSIGNED", repository: localRepo, reference, digest: o.digest },
      });
    }
    if (o.status === "filtered") throw new AppError("NOT_FOUND", o.reason);
    return { localRepo, reference, digest: o.digest, copied: r.copied, bytesCopied: counters.bytesCopied, blobsCopied: counters.blobsCopied, blobsSkipped: counters.blobsSkipped };
  }

  syncImageInBackground(localRepo: string, reference: string, hooks: Omit<SyncContext, "signal"> = {}): Promise<SyncImageResult> {
    const key = `${localRepo}\u0000${reference}`;
    const running = this.background.get(key);
    if (running) return running;
    const signal = AbortSignal.timeout(this.config.syncTimeoutMs);
    const p = this.syncImage({ ...hooks, signal }, localRepo, reference).finally(() => this.background.delete(key));
    this.background.set(key, p);
    return p;
  }

  syncReferrers(ctx: SyncContext, localRepo: string, subjectDigest: string, artifactTypes: string[]): Promise<SyncRepoResult> {
    return this.bounded(ctx, `referrers of ${localRepo}@${subjectDigest}`, (c) => this.syncReferrersNow(c, localRepo, subjectDigest, artifactTypes));
  }

  private async syncReferrersNow(ctx: SyncContext, localRepo: string, subjectDigest: string, artifactTypes: string[]): Promise<SyncRepoResult> {
    const { upstreamRepo } = this.route(localRepo);
    const counters = newCounters();
    const outcomes = await this.remote.use(
      (client) =>
        syncReferrersOf(
          { env: this.env, client, upstreamRepo, localRepo, ctx, counters, artifactTypes, legacyCosignTags: this.config.syncLegacyCosignTags, recursive: false },
          subjectDigest,
        ),
      this.failoverEvent(ctx),
    );
    return { localRepo, outcomes, bytesCopied: counters.bytesCopied, blobsCopied: counters.blobsCopied, blobsSkipped: counters.blobsSkipped };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.background.values()]);
    await this.remote.close();
  }

  /**
   * Runs one operation bounded by `syncTimeout` (a hostile upstream that trickles bytes forever
   * must not pin a worker: undici's body timeout only measures silence between chunks) and with
   * its retries reported to `ctx.event`. Running past the bound is UPSTREAM_TIMEOUT.
   */
  private async bounded<T>(ctx: SyncContext, what: string, fn: (ctx: SyncContext) => Promise<T>): Promise<T> {
    const timeout = AbortSignal.timeout(this.config.syncTimeoutMs);
    const inner: SyncContext = { ...ctx, signal: AbortSignal.any([ctx.signal, timeout]) };
    try {
      return await this.operation.run(inner, () => fn(inner));
    } catch (err) {
      if (timeout.aborted && !ctx.signal.aborted) {
        throw new AppError("UPSTREAM_TIMEOUT", `sync of ${what} from ${this.registryName} took longer than syncTimeout (${this.config.syncTimeoutMs} ms)`, {
          cause: err,
          details: { syncTimeoutMs: this.config.syncTimeoutMs },
        });
      }
      throw err;
    }
  }

  private onRetry(info: RetryInfo): void {
    const ctx = this.operation.getStore();
    const verb = info.kind === "resume" ? "resuming" : "retrying";
    ctx?.event?.("warn", `${verb} (${info.retry} of ${info.maxRetries}) in ${info.delayMs} ms after ${info.code}: ${info.what}`, {
      retry: info.retry,
      maxRetries: info.maxRetries,
      code: info.code,
      delayMs: info.delayMs,
      kind: info.kind,
    });
  }

  private route(localRepo: string): { upstreamRepo: string; rule: ContentRule } {
    const upstreamRepo = this.rules.upstreamRepoFor(localRepo);
    const rule = upstreamRepo === null ? undefined : this.rules.ruleFor(upstreamRepo);
    if (upstreamRepo === null || !rule) {
      throw new AppError("NOT_FOUND", `registry ${this.registryName} does not mirror ${localRepo}`, { details: { repository: localRepo } });
    }
    return { upstreamRepo, rule };
  }

  /**
   * One tag or digest, start to end, never throwing (except on abort): the outcome says what
   * happened, and `error` keeps the original for the on-demand path.
   */
  private async syncTag(
    ctx: SyncContext,
    rule: ContentRule,
    upstreamRepo: string,
    localRepo: string,
    reference: string,
    counters: CopyCounters,
    withReferrers: boolean,
    knownTags?: ReadonlySet<string>,
  ): Promise<TagResult & { error?: unknown }> {
    const isTag = !isDigest(reference);
    const checkedAt = this.now();
    const stateKey = { registryId: this.registryId, localRepo, tag: reference, upstreamRepo };
    try {
      const tree = this.treeOptions(rule, reference);
      const state = isTag ? await this.deps.tagState?.get(this.registryId, localRepo, reference) : undefined;
      const result = await this.remote.use(async (client) => {
        // A HEAD even for an image never seen: the tree is then fetched by digest, so it is the
        // one the HEAD named even if the tag moves meanwhile, and a registry whose answers by
        // digest disagree with its tags is caught (hostile corpus, case 2).
        const head = await client.headManifest(upstreamRepo, reference, { signal: ctx.signal });
        const upstreamDigest = head.digest;
        // May the stored root differ from upstream's? Must it (a Docker root under convertToOCI)?
        const rewrites = mayRewrite(head.mediaType, tree);
        const mustRewrite = Boolean(tree.convertToOCI && isDockerManifestType(head.mediaType));
        let outcome: TagOutcome | undefined;
        let copied = false;
        let prefetched: { root: FetchedManifest; children: ReadonlyMap<string, FetchedManifest> } | undefined;
        let predicted: string | undefined;
        if (!(await this.isUnchanged(localRepo, reference, upstreamDigest, isTag, rewrites, mustRewrite, state))) {
          if (rewrites && isTag) {
            // Tag state could not tell: predict the stored digest from the manifests (no blobs).
            const p = await getOCIDigest(client, upstreamRepo, upstreamDigest, { ...tree, signal: ctx.signal });
            prefetched = { root: p.root, children: p.fetched };
            if (await this.env.store.canSkipImage(localRepo, reference, p.ociDigest)) predicted = p.ociDigest;
          }
        } else {
          predicted = isTag ? ((await this.env.store.resolveTag(localRepo, reference)) ?? upstreamDigest) : upstreamDigest;
        }
        if (predicted !== undefined) {
          outcome = { tag: reference, status: "unchanged", digest: predicted };
          if (isTag) await this.deps.tagState?.record({ ...stateKey, status: "unchanged", checkedAt, upstreamDigest, localDigest: predicted });
        } else if (this.config.onlySigned && !(await isSigned(client, upstreamRepo, upstreamDigest, ctx.signal))) {
          outcome = { tag: reference, status: "unsigned", digest: upstreamDigest };
          if (isTag) await this.deps.tagState?.record({ ...stateKey, status: "unsigned", checkedAt, upstreamDigest });
        } else {
          const c = await this.copyImage(ctx, client, tree, upstreamRepo, localRepo, reference, upstreamDigest, counters, prefetched);
          outcome = { tag: reference, status: "synced", digest: c.digest, bytes: c.treeBytes };
          copied = true;
          if (isTag) {
            const prev = state;
            await this.deps.tagState?.record({
              ...stateKey,
              status: "synced",
              checkedAt,
              upstreamDigest,
              localDigest: c.digest,
              size: c.treeBytes,
              platforms: c.platforms,
              ...(prev?.localDigest !== c.digest ? { changedAt: checkedAt } : {}),
            });
          }
        }
        if (withReferrers && outcome.status !== "unsigned") {
          await this.referrersFor(ctx, client, upstreamRepo, localRepo, upstreamDigest, counters, outcome, knownTags);
        }
        return { outcome, copied };
      }, this.failoverEvent(ctx));
      return result;
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? err;
      const { code, message } = describeError(err);
      if (isTag) await this.deps.tagState?.record({ ...stateKey, status: "failed", checkedAt, error: { code, message } }).catch(() => undefined);
      return { outcome: { tag: reference, status: "failed", code, message }, copied: false, error: err };
    }
  }

  /**
   * The cheap checks, after the HEAD: tag state, then the store at the upstream digest.
   * `rewrites` says whether the stored root may legitimately differ from upstream's, `mustRewrite`
   * whether it must. A recorded local digest that disagrees with them is stale (the config
   * changed: `convertToOCI` or `platforms` turned on or off) and does not count as unchanged.
   */
  private async isUnchanged(
    localRepo: string,
    reference: string,
    upstreamDigest: string,
    isTag: boolean,
    rewrites: boolean,
    mustRewrite: boolean,
    state: TagStateRecord | null | undefined,
  ): Promise<boolean> {
    const store = this.env.store;
    if (!isTag) {
      try {
        await store.getManifest(localRepo, upstreamDigest);
        return true;
      } catch {
        return false;
      }
    }
    const consistent = (local: string) => (local === upstreamDigest ? !mustRewrite : rewrites);
    if (state?.upstreamDigest === upstreamDigest && state.localDigest && consistent(state.localDigest)) {
      if (await store.canSkipImage(localRepo, reference, state.localDigest)) return true;
    }
    // The tag at the upstream digest may be a copy made under another config (an unconverted
    // Docker image, an unfiltered index): only the prediction can tell.
    if (rewrites) return false;
    return store.canSkipImage(localRepo, reference, upstreamDigest);
  }

  /** How tag `reference` is transformed: a digest reference is copied whole and unconverted. */
  private treeOptions(rule: ContentRule, reference: string): TreeOptions {
    if (isDigest(reference)) return {};
    const platforms: PlatformSpec[] | undefined = rule.platforms?.map(parsePlatform);
    return { ...(platforms ? { platforms } : {}), ...(this.config.convertToOCI ? { convertToOCI: true } : {}) };
  }

  private async copyImage(
    ctx: SyncContext,
    client: RegistryClient,
    tree: TreeOptions,
    upstreamRepo: string,
    localRepo: string,
    reference: string,
    upstreamDigest: string,
    counters: CopyCounters,
    prefetched?: { root: FetchedManifest; children: ReadonlyMap<string, FetchedManifest> },
  ) {
    const root = prefetched?.root ?? (await client.getManifest(upstreamRepo, upstreamDigest, { signal: ctx.signal }));
    const staging = await this.env.store.stage(localRepo);
    try {
      const copyJob = { env: this.env, client, upstreamRepo, localRepo, staging, ctx, counters, ...tree, ...(prefetched ? { prefetched: prefetched.children } : {}) };
      const copied = await copyTree(copyJob, root);
      if (!isDigest(reference)) staging.tag(reference, copied.digest);
      ctx.signal.throwIfAborted();
      await this.env.store.commitAll(localRepo, staging);
      ctx.event?.("info", `synced ${localRepo}:${reference} (${copied.digest})`, { repository: localRepo, reference, digest: copied.digest, bytes: copied.treeBytes });
      return copied;
    } catch (err) {
      await this.env.store.cleanupImage(staging).catch(() => undefined);
      throw err;
    }
  }

  /** Referrers of an image; their failure is reported on the tag's outcome, not as a tag failure. */
  private async referrersFor(
    ctx: SyncContext,
    client: RegistryClient,
    upstreamRepo: string,
    localRepo: string,
    digest: string,
    counters: CopyCounters,
    outcome: TagOutcome,
    knownTags: ReadonlySet<string> | undefined,
  ): Promise<void> {
    try {
      const copied = await syncReferrersOf(
        {
          env: this.env,
          client,
          upstreamRepo,
          localRepo,
          ctx,
          counters,
          artifactTypes: [],
          legacyCosignTags: this.config.syncLegacyCosignTags,
          recursive: true,
          ...(knownTags ? { knownTags } : {}),
        },
        digest,
      );
      if ((outcome.status === "synced" || outcome.status === "unchanged") && copied.length > 0) outcome.referrers = copied.length;
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      const { code, message } = describeError(err);
      ctx.event?.("warn", `referrers of ${localRepo}@${digest} failed: ${code}: ${message}`, { repository: localRepo, digest, code });
      if (outcome.status === "synced" || outcome.status === "unchanged") outcome.referrersError = { code, message };
    }
  }

  /** The upstream creation time of a tag (for `tags.latest` by created): config `created`. */
  private async createdOf(ctx: SyncContext, upstreamRepo: string, tag: string): Promise<number | undefined> {
    try {
      return await this.remote.use(async (client) => {
        let m = await client.getManifest(upstreamRepo, tag, { signal: ctx.signal });
        for (let i = 0; m.parsed.kind === "index" && i < 4; i++) {
          const first = m.parsed.index.manifests.find((d) => d.annotations?.["vnd.docker.reference.type"] === undefined);
          if (!first) return undefined;
          m = await client.getManifest(upstreamRepo, first.digest, { signal: ctx.signal });
        }
        if (m.parsed.kind !== "image") return undefined;
        const cfg = m.parsed.manifest.config;
        const bytes = await client.getBlobBytes(upstreamRepo, cfg.digest, { expectedSize: cfg.size, maxBytes: 4 * 1024 * 1024, signal: ctx.signal });
        const created = (JSON.parse(bytes.toString("utf8")) as { created?: unknown }).created;
        const t = typeof created === "string" ? Date.parse(created) : NaN;
        return Number.isNaN(t) ? undefined : t;
      });
    } catch {
      return undefined;
    }
  }

  private failoverEvent(ctx: SyncContext) {
    return (from: string, to: string, err: unknown) =>
      ctx.event?.("warn", `${from} failed (${describeError(err).code}); trying ${to}`, { from, to });
  }
}

/** A stable code and a safe message for any failure. */
export function describeError(err: unknown): { code: string; message: string } {
  if (isOciError(err)) return { code: err.code, message: err.message };
  if (isAppError(err)) return { code: err.code, message: err.message };
  if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) return { code: "ABORTED", message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: "INTERNAL", message: message.slice(0, 500) };
}
