/**
 * Keeps a flood of API requests from starving the background work in the same process (the
 * generator's ticks, the sync workers, the task event stream).
 *
 * Node runs every ready socket's callback in one pass of its event loop. With 50 clients
 * hammering the API, one pass runs ~50 requests, and every step of a sync (a query answer, a
 * blob chunk) waits for the whole pass before its own callback runs; a tick is a chain of dozens
 * of such steps. Here API requests may start only while the current pass is younger than
 * `budgetMs`; later ones wait in a FIFO drained from setImmediate, one budget per pass, so the
 * loop comes round to the other sockets every few milliseconds. The total work is the same: the
 * API's share of the CPU shrinks only when something else is waiting for it.
 */
export function turnBudget(budgetMs = 4): (start: () => void) => void {
  const queue: Array<() => void> = [];
  /** When the current pass began running API requests; null once the loop has come round. */
  let passStart: number | null = null;
  let armed = false;

  const endOfPass = () => {
    armed = false;
    passStart = performance.now();
    while (queue.length > 0 && performance.now() - passStart < budgetMs) queue.shift()!();
    passStart = null;
    if (queue.length > 0) arm();
  };
  const arm = () => {
    if (armed) return;
    armed = true;
    setImmediate(endOfPass);
  };

  return (start) => {
    const now = performance.now();
    if (queue.length === 0 && (passStart === null || now - passStart < budgetMs)) {
      passStart ??= now;
      arm(); // resets passStart after the poll phase
      start();
      return;
    }
    queue.push(start);
    arm();
  };
}
