/**
 * Which addresses a registry client may connect to. An upstream decides where some requests go —
 * blob redirects (to object storage or a CDN) and the token realm of its auth challenge — so a
 * hostile or compromised upstream could point Ferry at the cloud metadata service
 * (169.254.169.254), at Ferry's own loopback services, or into the private network around it.
 *
 * The rule (applied to every connection the client's own dispatcher opens):
 * - The configured registry host itself is always allowed, whatever it resolves to: the operator
 *   chose it (tests run on 127.0.0.1, private registries live on private networks).
 * - Any other host must resolve only to public addresses, or to addresses of the same class as
 *   the registry's own (a registry on 10.0.0.5 may redirect to a blob store on 192.168.1.9; one on
 *   127.0.0.1 may redirect to 127.0.0.1:other-port; a public registry may not redirect to either).
 * - Link-local (169.254/16, fe80::/10; cloud metadata lives there) is never reachable through
 *   another host, even from a link-local registry.
 * Classes: loopback (127/8, ::1, 0.0.0.0/8, ::), link-local, private (10/8, 172.16/12,
 * 192.168/16, 100.64/10 CGNAT, fc00::/7), public (everything else). IPv4-mapped IPv6 addresses
 * count as their IPv4 address.
 *
 * DNS rebinding: names are resolved in the socket's own `lookup`, and the addresses checked are
 * the ones the socket then connects to, so a name cannot pass the check and connect elsewhere.
 * Every resolved address must pass (a mixed answer is refused). IP literals skip `lookup` in
 * Node, so the connector checks them itself.
 *
 * Not covered: a caller-supplied dispatcher (tests, or a shared Agent: the caller's policy), and
 * connections through HTTP(S)_PROXY (the proxy resolves the name; egress policy is the proxy's).
 * Non-http schemes are refused earlier, by the redirect layer (INVALID_RESPONSE).
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { buildConnector } from "undici";
import { OciError } from "./errors";

export type AddressClass = "public" | "loopback" | "link-local" | "private";

function blockList(ranges: Array<[string, number, "ipv4" | "ipv6"]>): BlockList {
  const b = new BlockList();
  for (const [net, prefix, family] of ranges) b.addSubnet(net, prefix, family);
  return b;
}

const RANGES: Array<[Exclude<AddressClass, "public">, BlockList]> = [
  ["loopback", blockList([["127.0.0.0", 8, "ipv4"], ["0.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"], ["::", 128, "ipv6"]])],
  ["link-local", blockList([["169.254.0.0", 16, "ipv4"], ["fe80::", 10, "ipv6"]])],
  [
    "private",
    blockList([["10.0.0.0", 8, "ipv4"], ["172.16.0.0", 12, "ipv4"], ["192.168.0.0", 16, "ipv4"], ["100.64.0.0", 10, "ipv4"], ["fc00::", 7, "ipv6"]]),
  ],
];

/** The class of an IP address (a non-IP string is "public": callers pass resolved addresses). */
export function addressClass(address: string): AddressClass {
  const ip = stripBrackets(address);
  const family = isIP(ip);
  if (family === 0) return "public";
  // BlockList matches IPv4 rules against IPv4-mapped IPv6 addresses in dotted form only.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  const v = mapped ? hexToIPv4(mapped[1]!, mapped[2]!) : ip;
  const fam = isIP(v) === 4 ? "ipv4" : "ipv6";
  for (const [cls, list] of RANGES) if (list.check(v, fam)) return cls;
  return "public";
}

function hexToIPv4(hi: string, lo: string): string {
  const a = parseInt(hi, 16);
  const b = parseInt(lo, 16);
  return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

const systemResolve: Resolve = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

export interface ConnectGuard {
  /** Null when `host` may be reached at `addresses`; else the error to fail the connection with. */
  check(host: string, addresses: readonly string[]): Promise<OciError | null>;
  /** A `lookup` for net/tls.connect that resolves, then checks. */
  lookup: LookupFunction;
}

/** The guard for a client of `registryUrl`; `resolve` is the DNS resolver (tests pass their own). */
export function createConnectGuard(registryUrl: URL, resolve: Resolve = systemResolve): ConnectGuard {
  const registryHost = stripBrackets(registryUrl.hostname).toLowerCase();
  let registryClasses: Promise<Set<AddressClass>> | null = null;
  const ownClasses = () =>
    (registryClasses ??= (isIP(registryHost) ? Promise.resolve([registryHost]) : resolve(registryHost).then((a) => a.map((x) => x.address))).then(
      (addrs) => new Set(addrs.map(addressClass)),
      // Unresolvable registry host: nothing but public addresses for other hosts.
      () => new Set<AddressClass>(),
    ));

  const check = async (host: string, addresses: readonly string[]): Promise<OciError | null> => {
    const h = stripBrackets(host).toLowerCase();
    if (h === registryHost) return null;
    for (const address of addresses) {
      const cls = addressClass(address);
      if (cls === "public") continue;
      if (cls !== "link-local" && (await ownClasses()).has(cls)) continue;
      const shown = h === address ? h : `${h} (${address})`;
      return new OciError(
        "ADDRESS_REFUSED",
        `refusing to connect to ${shown}: a ${cls} address, reached through a redirect or auth realm from ${registryHost}; only the configured registry host or public addresses${cls === "link-local" ? "" : ` (or ${cls} ones when the registry is on one)`} are allowed`,
      );
    }
    return null;
  };

  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname).then(
      async (found) => {
        const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
        const refused = await check(hostname, wanted.map((a) => a.address));
        if (refused) return callback(refused as unknown as NodeJS.ErrnoException, "", 0);
        if (wanted.length === 0) {
          const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname }) as NodeJS.ErrnoException;
          return callback(err, "", 0);
        }
        if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, "", 0),
    );
  };
  return { check, lookup };
}

/**
 * An undici connector that applies the guard: IP-literal hosts are checked before connecting
 * (Node does not call `lookup` for them), names are checked in `lookup` on the resolved addresses.
 */
export function guardedConnector(registryUrl: URL, options: buildConnector.BuildOptions, resolve?: Resolve): buildConnector.connector {
  const guard = createConnectGuard(registryUrl, resolve);
  const connect = buildConnector({ ...options, lookup: guard.lookup } as buildConnector.BuildOptions);
  // tls.connect throws synchronously on a malformed CA, certificate or key; a throw inside the
  // `.then` below would never reach undici, leaving the request (and a generator awaiting it)
  // pending forever. Every failure goes to the callback instead.
  const connectSafely: buildConnector.connector = (opts, callback) => {
    try {
      return connect(opts, callback);
    } catch (err) {
      callback(err as Error, null);
    }
  };
  return (opts, callback) => {
    const host = stripBrackets(opts.hostname);
    if (isIP(host) === 0) return connectSafely(opts, callback);
    guard.check(host, [host]).then(
      (refused) => (refused ? callback(refused, null) : connectSafely(opts, callback)),
      (err: Error) => callback(err, null),
    );
  };
}
