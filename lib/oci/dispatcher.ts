/**
 * The client's own undici dispatcher when the caller gives none: an Agent with TLS verified by
 * default (custom CA, client certificate, or verification off on explicit request), connect
 * timeout, connections refused to internal addresses the registry did not configure
 * (redirect-guard.ts), and HTTPS_PROXY/HTTP_PROXY/NO_PROXY honoured through EnvHttpProxyAgent.
 */
import { Agent, EnvHttpProxyAgent, type Dispatcher } from "undici";
import type { ResolvedClientOptions } from "./options";
import { guardedConnector } from "./redirect-guard";

/**
 * The proxy settings, read once when the dispatcher is created (lower case first, as undici and
 * curl do). NO_PROXY is snapshotted too: undici would re-read it on every request while the
 * proxy URLs stay fixed, so a later change of the environment would half-apply.
 */
function proxySettings(o: ResolvedClientOptions): { httpProxy?: string; httpsProxy?: string; noProxy: string } | undefined {
  if (o.proxy === false) return undefined;
  const e = process.env;
  const httpProxy = o.proxy?.httpProxy ?? (e.http_proxy || e.HTTP_PROXY || undefined);
  const httpsProxy = o.proxy?.httpsProxy ?? (e.https_proxy || e.HTTPS_PROXY || undefined);
  if (!httpProxy && !httpsProxy) return undefined;
  return {
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    noProxy: o.proxy?.noProxy ?? e.no_proxy ?? e.NO_PROXY ?? "",
  };
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
  const connect = guardedConnector(new URL(o.url), common.connect);
  const proxy = proxySettings(o);
  if (!proxy) return new Agent({ ...common, connect });
  return new EnvHttpProxyAgent({
    ...common,
    // Used only by the direct Agent for NO_PROXY hosts (often the internal ones): guarded too.
    // Proxied connections use requestTls for the tunnel and their own connector to the proxy.
    connect,
    requestTls: tls,
    // http:// registries go through an http proxy as absolute-URI requests, as Go's net/http
    // (zot, docker) does; many proxies refuse CONNECT to ports other than 443.
    proxyTunnel: false,
    ...proxy,
  });
}
