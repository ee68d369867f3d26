/** A counting semaphore: at most `max` callbacks run at once, the rest queue in order. */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError("Semaphore max must be a positive integer");
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/**
 * Runs `fn` over `items` with at most `limit` in flight; results in input order. After the first
 * failure no new item starts, and the first error is thrown only once the running ones settled,
 * so the caller's cleanup (discarding a staging area) never races a write still in progress.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let i = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (i < items.length && !failed) {
      const idx = i++;
      try {
        out[idx] = await fn(items[idx]!, idx);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.err;
  return out;
}
