/**
 * A node id that outlives its process: kept in the store's zmesh_meta table, so that
 * a node restarted on the same store is the same node to its peers, its logs and its
 * operators (a static peer list, a dashboard, `zmesh peers`).
 *
 * createNode cannot do this itself: the id is fixed when the node is built, and the
 * store is opened (and locked) only by start(). So a caller that wants a stable id
 * asks first and passes it as `nodeId`; the store is opened with every check a
 * node's start makes (lock, foreign, corrupt, newer) and closed again.
 *
 * A secure node's id is derived from its key instead (options.ts): nothing to keep.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { NODE_ID_RE, SERVICE_RE } from '../names.js';
import { openStore } from './open.js';

/**
 * The node id kept in the store at `storePath`, made (`<service>-<8 random hex>`) and
 * written when there is none yet; the store is created if missing. Throws STORE as a
 * node's start() would (another node holds it, not a zmesh store, ...).
 */
export function storedNodeId(storePath: string, service: string): string {
  if (!SERVICE_RE.test(service)) throw new InvalidArgumentError(`service must be a name matching ${SERVICE_RE}, got "${service}"`);
  const store = openStore(storePath);
  try {
    const made = `${service}-${randomBytes(4).toString('hex')}`;
    store.db.prepare("INSERT OR IGNORE INTO zmesh_meta (key, value) VALUES ('node_id', ?)").run(made);
    const row = store.db.prepare("SELECT value FROM zmesh_meta WHERE key = 'node_id'").get() as { value: string };
    // Written by us; a value edited by hand into something no node may carry is
    // refused here rather than by createNode with less context.
    if (!NODE_ID_RE.test(row.value)) throw new InvalidArgumentError(`${storePath} keeps node id "${row.value}", which is not a valid node id`);
    return row.value;
  } finally {
    store.close();
  }
}
