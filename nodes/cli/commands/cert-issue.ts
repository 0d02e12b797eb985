/**
 * `zmesh cert issue`: signs a certificate binding a node's public key to a mesh, a
 * service, a validity window and that service's permissions. The serial comes from
 * the authority directory's counter (DIR/serial), allocated before signing so that it
 * is never reused. Certificates are public: FILE is written 0644, and replaced if it
 * exists (renewal).
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import {
  SecurityError, isServiceName, issueCertificate, isoTime, keyBytes, loadAuthority, loadPublicKey, nextSerial, nodeIdFor, parseRules,
  type Permissions, type RuleKind,
} from 'zmesh';
import { checkMesh, checkPath } from '../options.js';
import { guarded } from '../run.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const DEFAULT_VALID_DAYS = 90;
const MAX_VALID_DAYS = 3_650;
/** not_before is set this far in the past, so a node whose clock is a little behind
 *  the issuer's does not refuse a certificate issued a moment ago. */
const CLOCK_SKEW_MS = 5 * 60_000;

const RIGHTS = [
  ['send', 'call', 'requests and commands: "service.Method", "service.*" or "*"'],
  ['publish', 'topic', 'topic prefixes to publish on, e.g. "product." ("*": all)'],
  ['subscribe', 'topic', 'topic prefixes to subscribe to, e.g. "order." ("*": all)'],
] as const satisfies ReadonlyArray<readonly [keyof Permissions, RuleKind, string]>;

type RuleArgs = { [K in `${'allow' | 'deny'}-${keyof Permissions}`]?: string[] };

interface Args extends RuleArgs {
  authority: string;
  mesh: string;
  service: string;
  key: string;
  days?: number;
  hours?: number;
  out: string;
  json: boolean;
}

/** Repeated options and comma lists both work: --allow-send a.B,c.* --allow-send d.E. */
const rules = (values: string[] | undefined, kind: RuleKind): string[] => [...new Set((values ?? []).flatMap((v) => parseRules(v, kind)))];

function permissionsOf(args: Args): Permissions {
  const out = {} as Permissions;
  for (const [right, kind] of RIGHTS) out[right] = { allow: rules(args[`allow-${right}`], kind), deny: rules(args[`deny-${right}`], kind) };
  return out;
}

/** --key: a .pub or node key file, or the Z85 public key itself. */
function resolveKey(arg: string): string {
  if (existsSync(arg)) return loadPublicKey(arg);
  try {
    keyBytes(arg);
    return arg;
  } catch {
    throw new Error(`--key ${JSON.stringify(arg)} is neither a key file nor a 40-character Z85 public key`);
  }
}

const validDuration = (v: number | undefined, max: number): boolean => v === undefined || (Number.isFinite(v) && v > 0 && v <= max);

export const certIssueCommand: CommandModule<object, Args> = {
  command: 'issue',
  describe: 'sign a certificate for a node key',
  builder: (y: Argv) => {
    let b = y
      .option('authority', { type: 'string', requiresArg: true, demandOption: true, describe: 'the authority directory (zmesh authority init)' })
      .option('mesh', { type: 'string', requiresArg: true, demandOption: true, describe: 'the mesh the node belongs to' })
      .option('service', { type: 'string', requiresArg: true, demandOption: true, describe: 'the service the node runs' })
      .option('key', { type: 'string', requiresArg: true, demandOption: true, describe: "the node's public key: FILE.pub, its key file, or the Z85 key" })
      .option('days', { type: 'number', requiresArg: true, describe: `validity in days (default ${DEFAULT_VALID_DAYS})`, conflicts: 'hours' })
      .option('hours', { type: 'number', requiresArg: true, describe: 'validity in hours', conflicts: 'days' })
      .option('out', { type: 'string', requiresArg: true, demandOption: true, describe: 'the certificate file to write' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' });
    for (const [right, , describe] of RIGHTS) {
      b = b
        .option(`allow-${right}`, { type: 'string', array: true, requiresArg: true, describe: `allow ${describe}; comma-separated, repeatable` })
        .option(`deny-${right}`, { type: 'string', array: true, requiresArg: true, describe: `deny (wins over allow) ${describe}` });
    }
    return b.check((a) => {
      checkMesh(a.mesh);
      if (!isServiceName(a.service)) throw new Error(`--service must be a service name ([a-z0-9][a-z0-9_-]{0,31}), got ${JSON.stringify(a.service)}`);
      if (!validDuration(a.days, MAX_VALID_DAYS)) throw new Error(`--days must be a number above 0 and at most ${MAX_VALID_DAYS}`);
      if (!validDuration(a.hours, MAX_VALID_DAYS * 24)) throw new Error(`--hours must be a number above 0 and at most ${MAX_VALID_DAYS * 24}`);
      checkPath('authority', a.authority);
      checkPath('out', a.out);
      permissionsOf(a as unknown as Args); // bad rules are usage errors: exit 2
      return true;
    }) as unknown as Argv<Args>;
  },
  handler: guarded((args: Args) => {
    const authority = loadAuthority(args.authority);
    const nodeKey = resolveKey(args.key);
    const nowMs = Date.now();
    const validMs = Math.round(args.hours !== undefined ? args.hours * HOUR_MS : (args.days ?? DEFAULT_VALID_DAYS) * DAY_MS);
    const permissions = permissionsOf(args);
    // Everything that can be refused was checked above: a serial taken now is used.
    const serial = nextSerial(args.authority);
    const fields = { mesh: args.mesh, service: args.service, nodeKey, serial, notBeforeMs: nowMs - CLOCK_SKEW_MS, notAfterMs: nowMs + validMs, permissions };
    try {
      writeFileSync(args.out, issueCertificate(authority, fields), { mode: 0o644 });
    } catch (err) {
      throw new SecurityError('config', `cannot write ${args.out}: ${(err as Error).message} (serial ${serial} is used up)`, { cause: err });
    }
    const nodeId = nodeIdFor(args.service, nodeKey);
    if (args.json) {
      console.log(JSON.stringify({ file: args.out, nodeId, ...fields, authorityKey: authority.publicKey.toString('hex') }));
      return;
    }
    console.log(`issued certificate serial ${serial} for node ${nodeId} (mesh ${args.mesh}, service ${args.service})`);
    console.log(`valid from ${isoTime(fields.notBeforeMs)} until ${isoTime(fields.notAfterMs)}`);
    console.log(`wrote ${args.out}`);
  }),
};
