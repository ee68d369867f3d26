import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { graphqlCodeOf, httpStatusOf, isAppError, toPublicError, type AppError } from "@/lib/errors";

/** An AppError as GraphQL sees it: `extensions.code` from the shared table; 4xx codes set the HTTP status. */
export function toGraphQLError(err: AppError): GraphQLError {
  const status = httpStatusOf(err.code);
  return new GraphQLError(err.message, {
    originalError: err,
    extensions: {
      code: graphqlCodeOf(err.code),
      ferryCode: err.code,
      ...(err.details ? { details: err.details } : {}),
      ...(status < 500 ? { http: { status } } : {}),
    },
  });
}

/**
 * The one place GraphQL errors reach the wire. AppErrors keep their code and message; GraphQL's
 * own errors (parse, validation, variable coercion) keep theirs; anything else is an
 * INTERNAL_SERVER_ERROR with the details logged, not shown. Stack traces never leave.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown, log: (err: unknown) => void): GraphQLFormattedError {
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (isAppError(original)) {
    return {
      message: original.message,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: graphqlCodeOf(original.code), ferryCode: original.code, ...(original.details ? { details: original.details } : {}) },
    };
  }
  if (original && !(original instanceof GraphQLError) && error instanceof GraphQLError && !error.extensions?.code) {
    toPublicError(original, log);
    return { message: "Internal error", ...(formatted.path ? { path: formatted.path } : {}), extensions: { code: "INTERNAL_SERVER_ERROR" } };
  }
  const { stacktrace: _s, ...ext } = (formatted.extensions ?? {}) as Record<string, unknown>;
  // Apollo re-codes every validation error GRAPHQL_VALIDATION_FAILED; ours (QUERY_TOO_COMPLEX)
  // says more, and it survives on the original error.
  const ownCode = (original as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;
  // graphql-js stops at parseOptions.maxTokens with a syntax error ("more that N tokens", sic):
  // that is the documented token limit, so it is QUERY_TOO_COMPLEX too.
  const tooManyTokens = ext.code === "GRAPHQL_PARSE_FAILED" && /contains more tha[nt] \d+ tokens/.test(formatted.message);
  const code = ownCode === "QUERY_TOO_COMPLEX" || tooManyTokens ? "QUERY_TOO_COMPLEX" : (ext.code ?? "INTERNAL_SERVER_ERROR");
  return { ...formatted, extensions: { ...ext, code } };
}
