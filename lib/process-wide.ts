/**
 * A WeakMap shared by every copy of a module in this process: Next.js bundles its own copies of
 * lib/ beside the ones server.ts loads, and state attached to a database client (its caches, its
 * listeners) must be the same for both. Held on globalThis under `Symbol.for(name)`.
 */
export function processWideWeakMap<K extends object, V>(name: string): WeakMap<K, V> {
  const holder = globalThis as Record<symbol, unknown>;
  const key = Symbol.for(name);
  return (holder[key] ??= new WeakMap<K, V>()) as WeakMap<K, V>;
}
