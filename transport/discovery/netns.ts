/** Network-namespace facts, for the guard that keeps mDNS off the host's interfaces. */
import { readlinkSync } from 'node:fs';

/** True when this process shares PID 1's network namespace (the host's own network). */
export function inRootNetns(): boolean {
  try {
    return readlinkSync('/proc/self/ns/net') === readlinkSync('/proc/1/ns/net');
  } catch {
    return false; // not Linux, or no /proc: nothing to compare, nothing to guard
  }
}
