/**
 * Keeps connections open across HEAD requests.
 *
 * undici closes the socket after every HEAD (`reset`), in case a broken server sends a body with
 * its answer. A sync HEADs every manifest, so with that default nearly every request of a sync
 * paid for a new TCP (and TLS) connection: measured on docker-registry, 100 HEADs opened 100
 * connections, and the GETs that followed on the same agent kept opening new ones (4.3 ms per
 * request instead of 2.5 ms on loopback; see BENCHMARKS.md, lib/sync). Registries are HTTP/1.1
 * servers that answer HEAD correctly (distribution, nginx, cloud front ends). Should one send a
 * body anyway, the next answer on that socket fails to parse, which surfaces as a retryable
 * NETWORK error on a fresh connection, not as wrong data: digests are verified regardless.
 */
import type { Dispatcher } from "undici";

/** `dispatcher` with `reset: false` on HEAD requests that did not ask otherwise. */
export function keepAliveAfterHead(dispatcher: Dispatcher): Dispatcher {
  return dispatcher.compose((dispatch) => (opts, handler) => dispatch(opts.method === "HEAD" && opts.reset === undefined ? { ...opts, reset: false } : opts, handler));
}
