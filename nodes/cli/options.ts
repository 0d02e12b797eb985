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
import pretty from 'pino-pretty';
import { isDnsDomain, isDnsServer, isMeshName, parsePeer } from 'zmesh';

export interface MeshArgs {
  mesh: string;
  interface?: string;
  peer?: string[];
  discovery?: 'mdns' | 'static' | 'both';
  'log-level': string;
  config?: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** --config FILE: the JSON settings file (config.ts), also named by ZMESH_CONFIG. */
export function configOption<T>(y: Argv<T>): Argv<T & { config?: string }> {
  return y.option('config', { type: 'string', requiresArg: true, describe: 'JSON settings file (zmesh-config.schema.json); flags, then ZMESH_* variables, then this file (default: $ZMESH_CONFIG)' });
}

/**
 * The options of every command that talks to a mesh. Their defaults are not yargs':
 * config.ts fills in whatever the command line leaves out from the environment, the
 * config file or the default, so that each value is known to come from one place.
 */
export function meshOptions<T>(y: Argv<T>, o: { allMeshes?: boolean } = {}): Argv<T & MeshArgs> {
  return configOption(y)
    .option('mesh', { type: 'string', requiresArg: true, describe: `mesh name; nodes of other meshes are ignored${o.allMeshes === true ? ' ("*": every mesh mDNS finds)' : ''} (default "default"; ZMESH_MESH)` })
    .option('interface', { type: 'string', requiresArg: true, describe: 'IPv4 address to bind, advertise and run mDNS on (ZMESH_INTERFACE)' })
    .option('peer', { type: 'string', array: true, requiresArg: true, describe: 'static peer: its ROUTER endpoint and public key, tcp://10.0.0.7:5555#<64 hex> (repeatable; ZMESH_PEERS, comma-separated); with peers, mDNS is off' })
    .option('discovery', { type: 'string', requiresArg: true, choices: ['mdns', 'static', 'both'], describe: 'where peers come from (default: static with --peer, else mdns; ZMESH_DISCOVERY)' })
    .option('log-level', { type: 'string', requiresArg: true, choices: LOG_LEVELS, describe: 'log level, logs go to stderr: readable on a terminal, JSON lines otherwise (default: info for node, warn otherwise; ZMESH_LOG_LEVEL)' })
    .check((a) => {
      checkMesh(a.mesh ?? 'default', o.allMeshes === true);
      checkInterface(a.interface);
      for (const p of a.peer ?? []) if (!isPeerEntry(p)) throw new Error(`--peer "${p}" is not an endpoint like tcp://10.0.0.7:5555 (port 1 to 65535), optionally followed by #<its public key, 64 lowercase hex>`);
      return true;
    }) as unknown as Argv<T & MeshArgs>;
}

/** Where peers come from when the operator did not say: the --peer list if any. */
export function discoveryOf(args: Pick<MeshArgs, 'discovery' | 'peer'>): 'mdns' | 'static' | 'both' {
  return args.discovery ?? ((args.peer ?? []).length === 0 ? 'mdns' : 'static');
}

/** "tcp://HOST:PORT", optionally "#<64 lowercase hex>": a static peer as createNode
 *  takes it. */
export function isPeerEntry(p: string): boolean {
  return parsePeer(p) !== undefined;
}

// The checks below throw a one-line usage error (main.ts turns it into exit 2).

const MESH_RULE = '1 to 64 of A-Z, a-z, 0-9, ".", "_" and "-"';

/** --mesh: a mesh name as zmesh defines it; `orAll` also takes "*" (every mesh).
 *  `what` names where the value came from (config.ts: ZMESH_MESH, the file). */
export function checkMesh(mesh: unknown, orAll = false, what = '--mesh'): void {
  if (orAll && mesh === '*') return;
  if (typeof mesh !== 'string' || !isMeshName(mesh)) throw new Error(`${what} must be ${orAll ? `"*" or ` : ''}${MESH_RULE}, got ${JSON.stringify(mesh)}`);
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

/**
 * The CLI's logger, on stderr: human-readable (pino-pretty) on a terminal, one JSON
 * object per line otherwise, for whatever collects the logs. ZMESH_LOG_FORMAT=json or
 * pretty overrides the guess.
 */
export function stderrLogger(level: string): Logger {
  const format = process.env['ZMESH_LOG_FORMAT'] || (process.stderr.isTTY === true ? 'pretty' : 'json');
  if (format !== 'pretty' && format !== 'json') throw new Error(`ZMESH_LOG_FORMAT must be "pretty" or "json", got ${JSON.stringify(format)}`);
  if (format === 'pretty') return pino({ level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  return pino({ level }, pino.destination(2));
}
