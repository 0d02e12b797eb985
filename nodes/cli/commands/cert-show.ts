/**
 * `zmesh cert show FILE`: what a certificate says, decoded with no trust decision (it
 * does not check the signature against any authority). An expired certificate is still
 * shown, with exit 0: the command reports, it does not judge.
 */
import { readFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { MAX_CERTIFICATE_BYTES, SecurityError, isServiceName, isoTime, nodeIdFor, readCertificate, type CertificateInfo, type RuleSet } from 'zmesh';
import { checkRegularFile, type Fail } from '../paths.js';
import { guarded } from '../run.js';

interface Args {
  file: string;
  json: boolean;
}

type Status = 'valid' | 'expired' | 'not-yet-valid';

/** "89d 23h", "2h 5m", "42s": the two largest units. */
function duration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.floor(Math.abs(ms) / 1000);
  for (const [unit, seconds] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / seconds);
    rest -= n * seconds;
    if (n > 0 || (unit === 's' && parts.length === 0)) parts.push(`${n}${unit}`);
  }
  return parts.slice(0, 2).join(' ');
}

function statusOf(info: CertificateInfo, nowMs: number): { status: Status; text: string } {
  if (nowMs < info.notBeforeMs) return { status: 'not-yet-valid', text: `NOT YET VALID: starts in ${duration(info.notBeforeMs - nowMs)}` };
  if (nowMs >= info.notAfterMs) return { status: 'expired', text: `EXPIRED ${duration(nowMs - info.notAfterMs)} ago` };
  return { status: 'valid', text: `valid, expires in ${duration(info.notAfterMs - nowMs)}` };
}

const rulesText = (r: RuleSet): string =>
  [r.allow.length > 0 ? `allow ${r.allow.join(',')}` : 'allow nothing', ...(r.deny.length > 0 ? [`deny ${r.deny.join(',')}`] : [])].join('; ');

export const certShowCommand: CommandModule<object, Args> = {
  command: 'show <file>',
  describe: "print a certificate's fields and whether it is within its validity",
  builder: (y: Argv) => y
    .positional('file', { type: 'string', demandOption: true, describe: 'the certificate file' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as unknown as Argv<Args>,
  handler: guarded((args: Args) => {
    const fail: Fail = (message, cause) => new SecurityError('certificate', message, cause === undefined ? {} : { cause });
    checkRegularFile(args.file, MAX_CERTIFICATE_BYTES, fail);
    let bytes: Buffer;
    try {
      bytes = readFileSync(args.file);
    } catch (err) {
      throw fail(`cannot read ${args.file}: ${(err as Error).message}`, err);
    }
    const info = readCertificate(bytes);
    const nowMs = Date.now();
    const { status, text } = statusOf(info, nowMs);
    // Decoded, not verified: a foreign issuer's bad service name is shown, not fatal.
    const nodeId = isServiceName(info.service) ? nodeIdFor(info.service, info.nodeKey) : '(none: the service name is invalid)';
    if (args.json) {
      console.log(JSON.stringify({
        ...info, nodeId, notBefore: isoTime(info.notBeforeMs), notAfter: isoTime(info.notAfterMs), status, remainingMs: Math.max(0, info.notAfterMs - nowMs),
      }));
      return;
    }
    const rows: Array<[string, string]> = [
      ['file', args.file], ['version', String(info.version)], ['mesh', info.mesh], ['service', info.service], ['node id', nodeId],
      ['node key', info.nodeKey], ['serial', String(info.serial)], ['authority', info.authorityKey],
      ['not before', isoTime(info.notBeforeMs)], ['not after', isoTime(info.notAfterMs)], ['status', text],
      ['send', rulesText(info.permissions.send)], ['publish', rulesText(info.permissions.publish)], ['subscribe', rulesText(info.permissions.subscribe)],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(12)}${v}`);
  }),
};
