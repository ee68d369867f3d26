import { readFileSync } from "node:fs";
import path from "node:path";
import { buildSchema, GraphQLScalarType, isObjectType, Kind, type GraphQLFieldResolver, type GraphQLSchema } from "graphql";
import { isAppError } from "@/lib/errors";
import { toGraphQLError } from "./errors";
import { resolvers, type Resolvers } from "./resolvers";

const DateTime = new GraphQLScalarType({
  name: "DateTime",
  serialize: (v) => (v instanceof Date ? v.toISOString() : String(v)),
  parseValue: (v) => {
    if (typeof v !== "string" || Number.isNaN(Date.parse(v))) throw new TypeError("DateTime must be an ISO 8601 string");
    return v;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING || Number.isNaN(Date.parse(ast.value))) throw new TypeError("DateTime must be an ISO 8601 string");
    return ast.value;
  },
});

/**
 * Attaches resolvers to the SDL schema (graphql/schema.graphql is the source of truth). Every
 * resolver is wrapped so an AppError becomes a GraphQLError with the shared code and status.
 */
function attach(schema: GraphQLSchema, map: Resolvers): GraphQLSchema {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const wrap = (fn: GraphQLFieldResolver<unknown, any, any>): GraphQLFieldResolver<unknown, unknown> => async (...args) => {
    try {
      return await fn(...(args as Parameters<typeof fn>));
    } catch (err) {
      throw isAppError(err) ? toGraphQLError(err) : err;
    }
  };
  for (const [typeName, fields] of Object.entries(map)) {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) throw new Error(`resolvers name unknown type ${typeName}`);
    const defs = type.getFields();
    for (const [fieldName, r] of Object.entries(fields)) {
      const field = defs[fieldName];
      if (!field) throw new Error(`resolvers name unknown field ${typeName}.${fieldName}`);
      if (typeof r === "function") field.resolve = wrap(r);
      else {
        field.subscribe = wrap(r.subscribe) as typeof field.subscribe;
        field.resolve = (payload) => payload;
      }
    }
  }
  const dt = schema.getType("DateTime") as GraphQLScalarType;
  Object.assign(dt, { serialize: DateTime.serialize, parseValue: DateTime.parseValue, parseLiteral: DateTime.parseLiteral });
  return schema;
}

const KEY = Symbol.for("ferry.graphql-schema");
type Holder = { [KEY]?: GraphQLSchema };

/** The executable schema, built once per process. */
export function getSchema(): GraphQLSchema {
  const holder = globalThis as Holder;
  if (!holder[KEY]) {
    const sdl = readFileSync(/* turbopackIgnore: true */ path.join(process.cwd(), "graphql", "schema.graphql"), "utf8");
    holder[KEY] = attach(buildSchema(sdl), resolvers);
  }
  return holder[KEY];
}
