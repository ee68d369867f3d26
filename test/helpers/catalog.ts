import pg from "pg";

/**
 * A normalised description of the `public` schema as Postgres itself reports it: one line per
 * column (type, nullability, default), index (its full definition) and constraint (primary keys,
 * uniques, foreign keys with their actions, checks). Two databases with equal snapshots have the
 * same structure. Prisma's migration history table is not part of the model and is left out.
 */
export async function catalogSnapshot(connectionString: string): Promise<string[]> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    const columns = await c.query<{ line: string }>(`
      SELECT format('column %s.%s %s%s%s', cl.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                    CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                    COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')) AS line
        FROM pg_attribute a
        JOIN pg_class cl ON cl.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = cl.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE n.nspname = 'public' AND cl.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
         AND cl.relname <> '_prisma_migrations'`);
    const indexes = await c.query<{ line: string }>(`
      SELECT 'index ' || pg_get_indexdef(ix.indexrelid) AS line
        FROM pg_index ix
        JOIN pg_class t ON t.oid = ix.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = 'public' AND t.relname <> '_prisma_migrations'`);
    const constraints = await c.query<{ line: string }>(`
      SELECT format('constraint %s.%s %s', t.relname, co.conname, pg_get_constraintdef(co.oid)) AS line
        FROM pg_constraint co
        JOIN pg_class t ON t.oid = co.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = 'public' AND t.relname <> '_prisma_migrations'`);
    const enums = await c.query<{ line: string }>(`
      SELECT format('enum %s %s', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)) AS line
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE n.nspname = 'public' GROUP BY t.typname`);
    return [...columns.rows, ...indexes.rows, ...constraints.rows, ...enums.rows].map((r) => r.line).sort();
  } finally {
    await c.end();
  }
}

/** Lines present in one snapshot and not the other, marked `-` (only in a) and `+` (only in b). */
export function diffSnapshots(a: string[], b: string[]): string[] {
  const sa = new Set(a);
  const sb = new Set(b);
  return [...a.filter((l) => !sb.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !sa.has(l)).map((l) => `+ ${l}`)];
}
