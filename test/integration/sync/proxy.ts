/**
 * The sync tests' view of the shared counting proxy (test/helpers/upstream-proxy.ts): request
 * counts by kind, so tests can prove what an unchanged image costs.
 */
import { startUpstreamProxy } from "../../helpers/upstream-proxy";

export interface Counts {
  readonly total: number;
  readonly blobGets: number;
  readonly manifestGets: number;
  readonly manifestHeads: number;
}

export interface CountingProxy {
  url: string;
  counts: Counts;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const proxy = await startUpstreamProxy(target);
  const counts: Counts = {
    get total() {
      let n = 0;
      for (const v of proxy.hits.values()) n += v;
      return n;
    },
    get blobGets() {
      return proxy.count("GET", /\/blobs\/sha256:/);
    },
    get manifestGets() {
      return proxy.count("GET", /\/manifests\//);
    },
    get manifestHeads() {
      return proxy.count("HEAD", /\/manifests\//);
    },
  };
  return { url: proxy.url, counts, reset: () => proxy.reset(), close: () => proxy.close() };
}
