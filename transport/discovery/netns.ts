/**
 * Network-namespace facts, for the guard that keeps mDNS off the host's interfaces
 * while tests and benchmarks run.
 *
 * The check is positive on purpose: we do not try to prove "this is the host's
 * namespace" (that needs /proc/1, which sandboxes may hide, and a failed read must
 * never mean "go ahead"); we prove "this is a named namespace made with `ip netns
 * add`", by matching our namespace inode against /run/netns/*.
 */
import { readdirSync, statSync } from 'node:fs';

export const NETNS_DIR = '/run/netns';

/** True only when this process runs inside a namespace listed in /run/netns. */
export function inNamedNetns(): boolean {
  try {
    const self = statSync('/proc/self/ns/net').ino;
    return readdirSync(NETNS_DIR).some((name) => {
      try {
        return statSync(`${NETNS_DIR}/${name}`).ino === self;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
