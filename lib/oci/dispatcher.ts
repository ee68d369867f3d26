/**
 * The client's own undici dispatcher when the caller gives none: an Agent with TLS verified by
 * default (custom CA, client certificate, or verification off on explicit request), connect
 * timeout, connections refused to internal addresses the registry did not configure
 * (redirect-guard.ts), and HTTPS_PROXY/HTTP_PROXY/NO_PROXY honoured through EnvHttpProxyAgent.
 */
import { Agent, EnvHttpProxyAgent, type Dispatcher } from "undici";
import type { ResolvedClientOptions } from "./options";
import { guardedConnector } from "./redirect-guard";

function proxyFromEnv(): boolean {
  const e = process.env;
  return Boolean(e.HTTPS_PROXY || e.https_proxy || e.HTTP_PROXY || e.http_proxy);
}

/** Builds the dispatcher for one registry. */
export function createDispatcher(o: ResolvedClientOptions): Dispatcher {
  const tls = {
    rejectUnauthorized: o.tls?.verify ?? true,
    ...(o.tls?.ca !== undefined ? { ca: o.tls.ca } : {}),
    ...(o.tls?.cert !== undefined ? { cert: o.tls.cert } : {}),
    ...(o.tls?.key !== undefined ? { key: o.tls.key } : {}),
    ...(o.tls?.servername !== undefined ? { servername: o.tls.servername } : {}),
  };
  const common = {
    connect: { ...tls, timeout: o.timeouts.connectMs },
    // A little above the request cap: token servers and object-storage redirects need sockets too.
    connections: o.maxConcurrentRequests + 2,
    headersTimeout: o.timeouts.headersMs,
    bodyTimeout: o.timeouts.bodyMs,
  };
  // Direct connections go through the address guard (no redirects or realms into internal
  // networks); through a proxy, the proxy resolves names and owns the egress policy.
  if (o.proxy === false || (o.proxy === undefined && !proxyFromEnv())) {
    return new Agent({ ...common, connect: guardedConnector(new URL(o.url), common.connect) });
  }
  return new EnvHttpProxyAgent({
    ...common,
    requestTls: tls,
    ...(o.proxy ? o.proxy : {}),
  });
}
