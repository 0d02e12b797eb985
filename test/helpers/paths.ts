/** Paths of compiled project files, valid whether this module runs from test/ (vitest)
 *  or from dist/test/ (benchmarks). Child processes always run compiled JavaScript. */
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
/** The project root: this file is <root>/test/helpers or <root>/dist/test/helpers. */
export const ROOT = here.replace(/\/(dist\/)?test\/helpers\/$/, '');

/** A compiled file by its path under dist/, e.g. "test/fixtures/node-proc.js". */
export function dist(path: string): string {
  return `${ROOT}/dist/${path}`;
}
