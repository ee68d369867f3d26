/**
 * `WWW-Authenticate` parsing (RFC 7235). One header may carry several challenges
 * (`Basic realm="x", Bearer realm="y",service="z"`) and parameter values may be quoted with
 * escaped quotes and commas inside, so a naive split on "," is wrong.
 */

/** One authentication challenge: scheme lowercased, parameter names lowercased. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses one or more `WWW-Authenticate` header values into challenges. */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap(parseOne);
}

function parseOne(input: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = input.length;
  const skipWs = () => {
    while (i < n && (input[i] === " " || input[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(input[i]!)) i++;
    return input.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skipWs();
    if (input[i] === ",") {
      i++;
      continue;
    }
    const token = readToken();
    if (!token) {
      i++; // garbage character: skip it rather than loop forever
      continue;
    }
    skipWs();
    if (input[i] === "=" && current) {
      // `name=value` or token68 padding (`abc==`); a parameter of the current challenge.
      i++;
      skipWs();
      let value: string;
      if (input[i] === '"') {
        i++;
        let v = "";
        while (i < n && input[i] !== '"') {
          if (input[i] === "\\" && i + 1 < n) i++;
          v += input[i];
          i++;
        }
        i++; // closing quote
        value = v;
      } else {
        const start = i;
        while (i < n && input[i] !== "," && input[i] !== " ") i++;
        value = input.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
      continue;
    }
    // A bare token starts a new challenge (`Bearer realm=...`).
    current = { scheme: token.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The scope string a token request needs for a repository, e.g. `repository:a/b:pull`. */
export function repositoryScope(repository: string, actions = "pull"): string {
  return `repository:${repository}:${actions}`;
}

/** The scope for `/v2/_catalog`. */
export const CATALOG_SCOPE = "registry:catalog:*";
