/** The zmesh version a node reports in its summaries: package.json's, read once. */
import { readFileSync } from 'node:fs';

let known: string | undefined;

/** "0.1.0", or "unknown" when package.json cannot be read. The file is two levels up
 *  from transport/observe/ and three from dist/transport/observe/: the first one
 *  named "zmesh" wins. */
export function zmeshVersion(): string {
  if (known !== undefined) return known;
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'zmesh' && typeof pkg.version === 'string') return (known = pkg.version);
    } catch {
      // Not there, or not JSON: try the next.
    }
  }
  return (known = 'unknown');
}
