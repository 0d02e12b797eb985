/** Options and checks shared by the commands that join a mesh. */
import type { Argv } from 'yargs';
import { pino, type Logger } from 'pino';

export const SERVICE_NAMES = ['product', 'cart', 'order'] as const;

export interface MeshArgs {
  mesh: string;
  interface?: string;
  peer?: string[];
  'log-level': string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const ENDPOINT = /^tcp:\/\/[^\s:]+:\d{1,5}$/;
const MESH = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function meshOptions<T>(y: Argv<T>): Argv<T & MeshArgs> {
  return y
    .option('mesh', { type: 'string', default: 'default', describe: 'mesh name; nodes of other meshes are ignored' })
    .option('interface', { type: 'string', describe: 'IPv4 address to bind, advertise and run mDNS on' })
    .option('peer', { type: 'string', array: true, describe: 'static peer ROUTER endpoint, e.g. tcp://10.0.0.7:5555 (repeatable); with peers, mDNS is off' })
    .option('log-level', { type: 'string', default: 'warn', choices: LOG_LEVELS, describe: 'log level (logs go to stderr)' })
    .check((a) => {
      if (!MESH.test(a.mesh)) throw new Error('--mesh must be 1 to 32 of a-z, 0-9, "_" and "-", starting with a letter or digit');
      if (a.interface !== undefined && !IPV4.test(a.interface)) throw new Error('--interface must be an IPv4 address');
      for (const p of a.peer ?? []) if (!ENDPOINT.test(p)) throw new Error(`--peer "${p}" is not an endpoint like tcp://10.0.0.7:5555`);
      return true;
    }) as unknown as Argv<T & MeshArgs>;
}

export function stderrLogger(level: string): Logger {
  return pino({ level }, pino.destination(2));
}
