/**
 * What every store operation needs: where things are, how durable writes must be, lock settings,
 * and the read caches. One per open store.
 */
import type { Durability } from "./atomic-write";
import type { Layout } from "./layout";
import type { LockOptions } from "./lock";
import type { ParsedManifest } from "./manifest";
import type { OciIndex } from "./oci-index";

export interface StoreContext {
  layout: Layout;
  durability: Durability;
  lock: LockOptions;
  /** Parsed index.json per repository, keyed by the file's inode+mtime+size (it is replaced by rename). */
  indexCache: BoundedMap<string, { key: string; index: OciIndex }>;
  /** Parsed manifests by digest: content-addressed, so an entry can never go stale. */
  manifestCache: BoundedMap<string, { parsed: ParsedManifest; size: number }>;
}

/** A Map that forgets its oldest entries beyond `max`. */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }
  override set(key: K, value: V): this {
    if (this.has(key)) this.delete(key);
    super.set(key, value);
    while (this.size > this.max) {
      const oldest = this.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
    return this;
  }
}
