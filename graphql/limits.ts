import { GraphQLError, Kind, type ASTVisitor, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from "graphql";

export const MAX_DEPTH = 10;
export const MAX_FIELDS = 400;
/** Lexer tokens per document: stops huge documents before validation spends time on them. */
export const MAX_TOKENS = 5000;

function tooComplex(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "QUERY_TOO_COMPLEX", http: { status: 400 } } });
}

/**
 * Depth and size limits in one validation rule. Walks each operation with fragments expanded
 * (each fragment at most once per path, so a cycle or a fragment bomb cannot make the walk
 * itself expensive) and stops at the first limit crossed:
 *   depth  nested selection sets, e.g. `tasks { items { events { ... } } }` is 3;
 *   fields every field selection counted after expansion (aliases count: `a: me b: me` is 2),
 *          which bounds the cost of resolving one operation regardless of how it is written.
 * Page sizes (`first`) are capped at 200 by the resolvers' argument validation.
 */
export function limitsRule(context: ValidationContext): ASTVisitor {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of context.getDocument().definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  return {
    OperationDefinition(op) {
      let fields = 0;
      let reported = false;
      const walk = (set: SelectionSetNode, depth: number, seen: Set<string>): void => {
        if (reported) return;
        if (depth > MAX_DEPTH) {
          reported = true;
          context.reportError(tooComplex(`query is nested deeper than ${MAX_DEPTH} levels`));
          return;
        }
        for (const sel of set.selections) {
          if (reported) return;
          if (sel.kind === Kind.FIELD) {
            if (++fields > MAX_FIELDS) {
              reported = true;
              context.reportError(tooComplex(`query selects more than ${MAX_FIELDS} fields`));
              return;
            }
            if (sel.selectionSet) walk(sel.selectionSet, depth + 1, seen);
          } else if (sel.kind === Kind.INLINE_FRAGMENT) {
            walk(sel.selectionSet, depth, seen);
          } else {
            const name = sel.name.value;
            const frag = fragments.get(name);
            if (!frag || seen.has(name)) continue; // unknown or cyclic: graphql's own rules report it
            walk(frag.selectionSet, depth, new Set(seen).add(name));
          }
        }
      };
      walk(op.selectionSet, 1, new Set());
      return false;
    },
  };
}
