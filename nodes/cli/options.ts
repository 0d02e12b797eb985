/**
 * Options and checks shared by the commands. Mesh names and endpoints are checked
 * with zmesh's own validators, so the CLI refuses exactly what a node would, at
 * parse time and with exit 2 rather than later as a failed start.
 *
 * Every option that takes a value is declared `requiresArg`: yargs would otherwise
 * read a bare "--data" as "" (the current directory), a bare "--timeout" as its
 * default and a bare "--peer" as no peer at all, and run on as if nothing were wrong.
 */
import { isIPv4 } from 'node:net';
import type { Argv } from 'yargs';
import { pino, type Logger } from 'pino';
import { isDnsDomain, isDnsServer, isMeshName, parsePeer } from 'zmesh';

export interface MeshArgs {
  mesh: string;
  interface?: string;
  peer?: string[];
  'log-level': string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function meshOptions<T>(y: Argv<T>): Argv<T & MeshArgs> {
  return y
    .option('mesh', { type: 'string', requiresArg: true, default: 'default', describe: 'mesh name; nodes of other meshes are ignored' })
    .option('interface', { type: 'string', requiresArg: true, describe: 'IPv4 address to bind, advertise and run mDNS on' })
    .option('peer', { type: 'string', array: true, requiresArg: true, describe: 'static peer: its ROUTER endpoint and public key, tcp://10.0.0.7:5555#<64 hex> (repeatable); with peers, mDNS is off' })
    .option('log-level', { type: 'string', requiresArg: true, default: 'warn', choices: LOG_LEVELS, describe: 'log level (logs go to stderr)' })
    .check((a) => {
      checkMesh(a.mesh);
      checkInterface(a.interface);
      for (const p of a.peer ?? []) if (!isPeerEntry(p)) throw new Error(`--peer "${p}" is not an endpoint like tcp://10.0.0.7:5555 (port 1 to 65535), optionally followed by #<its public key, 64 lowercase hex>`);
      return true;
    }) as unknown as Argv<T & MeshArgs>;
}

/** "tcp://HOST:PORT", optionally "#<64 lowercase hex>": a static peer as createNode
 *  takes it. */
export function isPeerEntry(p: string): boolean {
  return parsePeer(p) !== undefined;
}

// The checks below throw a one-line usage error (main.ts turns it into exit 2).

const MESH_RULE = '1 to 64 of A-Z, a-z, 0-9, ".", "_" and "-"';

/** --mesh: a mesh name as zmesh defines it; `orAll` also takes "*" (every mesh). */
export function checkMesh(mesh: string, orAll = false): void {
  if (orAll && mesh === '*') return;
  if (!isMeshName(mesh)) throw new Error(`--mesh must be ${orAll ? `"*" or ` : ''}${MESH_RULE}, got ${JSON.stringify(mesh)}`);
}

/** --interface: binding and mDNS are IPv4 only, so a name like eth0 is refused too. */
export function checkInterface(address: string | undefined): void {
  if (address !== undefined && !isIPv4(address)) throw new Error(`--interface must be an IPv4 address, got ${JSON.stringify(address)}`);
}

/** --discovery dns, --dns-domain and --dns-server, together. */
export function checkDns(discovery: string | undefined, domain: string | undefined, servers: readonly string[] | undefined): void {
  if (discovery === 'dns' && domain === undefined) throw new Error('--discovery dns needs --dns-domain (the domain whose _zmesh._tcp records to browse)');
  if (domain !== undefined && !isDnsDomain(domain)) throw new Error(`--dns-domain must be a DNS domain such as mesh.example.org, got ${JSON.stringify(domain)}`);
  if (servers !== undefined && domain === undefined) throw new Error('--dns-server needs --dns-domain');
  for (const s of servers ?? []) if (!isDnsServer(s)) throw new Error(`--dns-server must be an IP address, optionally with :PORT (10.0.0.2:53, [fd00::2]:53), got ${JSON.stringify(s)}`);
}

/** A file or directory option: "" would mean the current directory, and a NUL byte
 *  makes every file call throw. `values` may be one path or a repeated option's. */
export function checkPath(option: string, values: string | readonly string[] | undefined): void {
  for (const v of typeof values === 'string' ? [values] : values ?? []) {
    if (v === '') throw new Error(`--${option} needs a path, got ""`);
    if (v.includes('\0')) throw new Error(`--${option} must not contain a NUL byte`);
  }
}

export function stderrLogger(level: string): Logger {
  return pino({ level }, pino.destination(2));
}
