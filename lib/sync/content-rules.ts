/**
 * Content rules: which upstream repositories and tags are mirrored, under which local names, and
 * which platforms of an index are kept. Pure functions over a validated config; no I/O except the
 * `created` lookups `selectLatest` is handed.
 *
 * Name mapping follows zot: with `destination` the local name is `destination/<name>`; with
 * `stripPrefix` the literal part of `prefix` (before its first glob character) is removed first.
 * The inverse (local → upstream, for on-demand pulls) tries each rule and keeps an answer only if
 * mapping it forward gives the same local name through the same first-matching rule, so the two
 * directions can never disagree.
 */
import picomatch from "picomatch";
import semver from "semver";
import type { ContentRule, TagFilters } from "./config";

/** Compiled rules: picomatch matchers built once. */
export class ContentRules {
  private readonly matchers: Array<(name: string) => boolean>;

  constructor(readonly rules: readonly ContentRule[]) {
    this.matchers = rules.map((r) => picomatch(trimSlashes(r.prefix), { dot: true }));
  }

  /** The first rule whose prefix matches the upstream name; a catch-all when there are no rules. */
  ruleFor(upstreamRepo: string): ContentRule | undefined {
    if (this.rules.length === 0) return CATCH_ALL;
    for (let i = 0; i < this.rules.length; i++) {
      if (this.matchers[i]!(upstreamRepo)) return this.rules[i];
    }
    return undefined;
  }

  /** Whether any rule mirrors this upstream repository. */
  matches(upstreamRepo: string): boolean {
    return this.ruleFor(upstreamRepo) !== undefined;
  }

  /**
   * Whether periodic rounds sync this upstream repository: its first matching rule is periodic.
   * First match decides, as for the name mapping, so an on-demand-only rule shadows later rules.
   */
  inRounds(upstreamRepo: string): boolean {
    const rule = this.ruleFor(upstreamRepo);
    return rule !== undefined && rule.periodic !== false;
  }

  /** The local name for an upstream repository, or null when no rule matches it. */
  localRepoFor(upstreamRepo: string): string | null {
    const rule = this.ruleFor(upstreamRepo);
    return rule ? localName(upstreamRepo, rule) : null;
  }

  /** The upstream name for a local repository (on-demand), or null when no rule maps to it. */
  upstreamRepoFor(localRepo: string): string | null {
    const local = trimSlashes(localRepo);
    const rules = this.rules.length === 0 ? [CATCH_ALL] : this.rules;
    for (const rule of rules) {
      for (const candidate of upstreamCandidates(local, rule)) {
        if (candidate && this.ruleFor(candidate) === (this.rules.length === 0 ? CATCH_ALL : rule) && localName(candidate, rule) === local) {
          return candidate;
        }
      }
    }
    return null;
  }
}

/**
 * How to make periodic rounds sync the repository a local name comes from (promotion of an
 * on-demand pull): a new rule whose prefix is exactly that upstream name, mapped to the same
 * local name (destination = the local name, stripPrefix), with the tag filters and platforms of
 * the rule that serves it now, inserted just before that rule so it matches first. Null when no
 * rule maps the local name; `rule` absent when rounds already cover it (nothing to add).
 */
export function planPromotion(
  rules: readonly ContentRule[],
  localRepo: string,
): { upstreamRepo: string; index: number; rule?: Omit<ContentRule, "stripPrefix" | "periodic"> & { stripPrefix?: boolean; periodic: true } } | null {
  const compiled = new ContentRules(rules);
  const upstreamRepo = compiled.upstreamRepoFor(localRepo);
  if (upstreamRepo === null) return null;
  const current = compiled.ruleFor(upstreamRepo);
  const index = current === CATCH_ALL ? 0 : rules.indexOf(current!);
  if (compiled.inRounds(upstreamRepo)) return { upstreamRepo, index };
  const local = trimSlashes(localRepo);
  return {
    upstreamRepo,
    index,
    rule: {
      prefix: upstreamRepo,
      ...(local === upstreamRepo ? {} : { destination: local, stripPrefix: true }),
      ...(current?.tags ? { tags: current.tags } : {}),
      ...(current?.platforms ? { platforms: current.platforms } : {}),
      periodic: true,
    },
  };
}

const CATCH_ALL: ContentRule = { prefix: "**", stripPrefix: false, periodic: true };

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, "");
}

/** The part of a glob before its first glob character, without a trailing slash. */
export function literalPrefix(prefix: string): string {
  const p = trimSlashes(prefix);
  const i = p.search(/[*?[\]{}()!+@]/);
  const lit = i < 0 ? p : p.slice(0, i);
  return lit.replace(/\/+$/, "");
}

function localName(upstream: string, rule: ContentRule): string {
  const dest = rule.destination ?? "";
  let rest = upstream;
  if (rule.stripPrefix) {
    const lit = literalPrefix(rule.prefix);
    if (rest === lit) rest = "";
    else if (lit && rest.startsWith(`${lit}/`)) rest = rest.slice(lit.length + 1);
    else if (lit && rest.startsWith(lit)) rest = trimSlashes(rest.slice(lit.length));
  }
  return [dest, rest].filter((s) => s !== "").join("/");
}

function upstreamCandidates(local: string, rule: ContentRule): string[] {
  const dest = rule.destination ?? "";
  let rest: string;
  if (dest === "") rest = local;
  else if (local === dest) rest = "";
  else if (local.startsWith(`${dest}/`)) rest = local.slice(dest.length + 1);
  else return [];
  if (!rule.stripPrefix) return [rest];
  const lit = literalPrefix(rule.prefix);
  // `lit` may end mid-segment ("lib*" → "lib"), so both joins are candidates.
  const out = [[lit, rest].filter((s) => s !== "").join("/")];
  if (lit && rest) out.push(`${lit}${rest}`);
  return out;
}

/**
 * The semantic version a tag names, or null. Like zot (Masterminds/semver), `v1.2` and `1.2` count
 * as versions (1.2.0); `latest` or `1.2-alpine-3` with a non-numeric core do not.
 */
export function tagVersion(tag: string): string | null {
  const v = semver.valid(tag, { loose: true });
  if (v !== null) return v;
  const m = /^v?(\d+)(?:\.(\d+))?$/.exec(tag);
  return m ? `${Number(m[1])}.${Number(m[2] ?? 0)}.0` : null;
}

/** Why a tag was left out, or null when it passes the rule's filters. */
export type TagDecision = { tag: string; keep: true } | { tag: string; keep: false; reason: string };

/**
 * Applies regex → excludeRegex → semver to each tag. `latest` is separate (`selectLatest`)
 * because "by created" needs upstream reads.
 */
export function filterTags(tags: readonly string[], filters: TagFilters | undefined): TagDecision[] {
  if (!filters) return tags.map((tag) => ({ tag, keep: true }));
  const include = filters.regex !== undefined ? new RegExp(filters.regex) : undefined;
  const exclude = filters.excludeRegex !== undefined ? new RegExp(filters.excludeRegex) : undefined;
  const range = typeof filters.semver === "string" ? filters.semver : undefined;
  return tags.map((tag): TagDecision => {
    if (include && !include.test(tag)) return { tag, keep: false, reason: `does not match tags.regex ${filters.regex}` };
    if (exclude && exclude.test(tag)) return { tag, keep: false, reason: `matches tags.excludeRegex ${filters.excludeRegex}` };
    if (filters.semver) {
      const v = tagVersion(tag);
      if (v === null) return { tag, keep: false, reason: "is not a semantic version (tags.semver)" };
      if (range !== undefined && !semver.satisfies(v, range, { loose: true, includePrerelease: true })) {
        return { tag, keep: false, reason: `is outside tags.semver ${range}` };
      }
    }
    return { tag, keep: true };
  });
}

/**
 * Keeps the `count` newest tags. By semver: tags that are not versions are dropped; ties (1.2 and
 * v1.2) are broken by name. By created: `createdOf` gives each tag's upstream creation time
 * (undefined sorts oldest), newest kept. Returns the kept tags and reasons for the others.
 */
export async function selectLatest(
  tags: readonly string[],
  latest: { count: number; by: "semver" | "created" },
  createdOf?: (tag: string) => Promise<number | undefined>,
): Promise<{ kept: string[]; dropped: Array<{ tag: string; reason: string }> }> {
  const dropped: Array<{ tag: string; reason: string }> = [];
  let ranked: string[];
  if (latest.by === "semver") {
    const versions: Array<{ tag: string; v: string }> = [];
    for (const tag of tags) {
      const v = tagVersion(tag);
      if (v === null) dropped.push({ tag, reason: "is not a semantic version (tags.latest by semver)" });
      else versions.push({ tag, v });
    }
    versions.sort((a, b) => semver.rcompare(a.v, b.v, { loose: true }) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    ranked = versions.map((x) => x.tag);
  } else {
    if (!createdOf) throw new Error("selectLatest by created needs createdOf");
    const times = await Promise.all(tags.map(async (tag) => ({ tag, t: (await createdOf(tag)) ?? Number.NEGATIVE_INFINITY })));
    times.sort((a, b) => b.t - a.t || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    ranked = times.map((x) => x.tag);
  }
  const kept = ranked.slice(0, latest.count);
  for (const tag of ranked.slice(latest.count)) dropped.push({ tag, reason: `not among the ${latest.count} newest (tags.latest)` });
  return { kept, dropped };
}

/** A platform as `os/arch[/variant]`. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

/** Parses `linux/arm64/v8`. */
export function parsePlatform(text: string): PlatformSpec {
  const [os, architecture, variant] = text.split("/");
  return { os: os ?? "", architecture: architecture ?? "", ...(variant ? { variant } : {}) };
}

/** containerd's normalisation: arm64 means v8 and arm means v7 when no variant is given. */
function normalVariant(arch: string, variant: string | undefined): string | undefined {
  if (variant) return variant;
  if (arch === "arm64") return "v8";
  if (arch === "arm") return "v7";
  return undefined;
}

/** Whether a descriptor's platform is one of `wanted`. */
export function platformMatches(platform: { os: string; architecture: string; variant?: string } | undefined, wanted: readonly PlatformSpec[]): boolean {
  if (!platform) return false;
  return wanted.some(
    (w) =>
      w.os === platform.os &&
      w.architecture === platform.architecture &&
      (w.variant === undefined || normalVariant(w.architecture, w.variant) === normalVariant(platform.architecture, platform.variant)),
  );
}

/** `os/arch[/variant]` of a descriptor's platform, for tag state and the UI. */
export function formatPlatform(p: { os: string; architecture: string; variant?: string }): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}
