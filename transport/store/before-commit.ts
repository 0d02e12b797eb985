/**
 * Work that must be done inside every transaction, after its last write and before
 * its COMMIT: syncing the spilled payloads it references (spill.ts), so that no
 * committed row points at bytes a power loss could take.
 *
 * Transactions are opened in several places (group commit, the reliable write batch,
 * durable event batches, transact()), and a handler's own `tx.db.transaction()` nests
 * in them. Rather than trusting each to remember, the connection's transaction() is
 * wrapped once: the function it runs calls the hooks when it returns normally at the
 * outermost level (a SAVEPOINT inside another transaction commits nothing). A hook
 * that throws rolls the transaction back, as a failing write would.
 */
import type Database from 'better-sqlite3';

type TransactionFn = Database.Database['transaction'];
const hooked = new WeakMap<Database.Database, Array<() => void>>();

export function beforeCommit(db: Database.Database, hook: () => void): void {
  let hooks = hooked.get(db);
  if (hooks === undefined) {
    const list: Array<() => void> = (hooks = []);
    hooked.set(db, list);
    const original = db.transaction.bind(db);
    let depth = 0;
    const wrapped = ((fn: (...args: unknown[]) => unknown) => original(function (this: unknown, ...args: unknown[]) {
      depth++;
      try {
        const result = fn.apply(this, args);
        if (depth === 1) for (const h of list) h();
        return result;
      } finally {
        depth--;
      }
    })) as TransactionFn;
    Object.defineProperty(db, 'transaction', { value: wrapped, configurable: true, writable: true });
  }
  hooks.push(hook);
}
