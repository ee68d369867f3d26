/**
 * The round's catalog: fetched once (all pages), filtered by the content rules, sorted and kept
 * until `reset()`. `nextAfter(lastRepo)` is a binary search, so each of the n calls of a round is
 * O(log n) and a generator resumed after a restart does not rescan from the start.
 */

/** A sorted, deduplicated list of repository names with "next after" lookups. */
export class SortedCatalog {
  private readonly names: string[];

  constructor(names: Iterable<string>) {
    this.names = [...new Set(names)].sort(compareNames);
  }

  get size(): number {
    return this.names.length;
  }

  /** The first name strictly after `last` ("" = from the start), or "" at the end. */
  nextAfter(last: string): string {
    if (last === "") return this.names[0] ?? "";
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareNames(this.names[mid]!, last) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return this.names[lo] ?? "";
  }

  toArray(): string[] {
    return [...this.names];
  }
}

/** Code-unit order, as distribution sorts its catalog (not locale order). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Holds the catalog for one round. Concurrent first calls share one fetch; a failed fetch is not
 * cached, so the generator's backoff retries it.
 */
export class CatalogCache {
  private current: SortedCatalog | undefined;
  private pending: Promise<SortedCatalog> | undefined;
  private generation = 0;

  constructor(private readonly fetchAll: () => Promise<string[]>, private readonly keep: (name: string) => boolean) {}

  async get(): Promise<SortedCatalog> {
    if (this.current) return this.current;
    if (!this.pending) {
      const gen = this.generation;
      this.pending = this.fetchAll()
        .then((names) => {
          const cat = new SortedCatalog(names.filter(this.keep));
          if (gen === this.generation) this.current = cat;
          return cat;
        })
        .finally(() => {
          if (gen === this.generation) this.pending = undefined;
        });
    }
    return this.pending;
  }

  reset(): void {
    this.generation++;
    this.current = undefined;
    this.pending = undefined;
  }
}
