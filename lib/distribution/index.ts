export { createV2Handler, type OnDemandSource, type V2HandlerOptions } from "./handler";
export { toV2Error, V2Error, type V2ErrorCode } from "./errors";
export { parseRange, parseV2Path, type V2Route } from "./routes";
export { PullAuth, type PullAuthOptions, type PullClaims } from "./pull-auth";
