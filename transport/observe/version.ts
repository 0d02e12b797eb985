/** zmesh's own version, for zmesh_node_info: read once from the package's
 *  package.json, found by walking up from this module (src/ and dist/ differ). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function zmeshVersion(): string {
  if (cached !== undefined) return cached;
  cached = 'unknown';
  for (let up = 1; up <= 4; up++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${'../'.repeat(up)}package.json`, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'zmesh' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    } catch {
      // Not at this level: look further up.
    }
  }
  return cached;
}
