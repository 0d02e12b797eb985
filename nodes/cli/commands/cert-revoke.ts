/**
 * `zmesh cert revoke --authority DIR --serial N`: adds serials to DIR/revoked.list, the
 * authority's signed revocation list, re-signed each time and replaced atomically. Give
 * the new list to every node. A serial DIR never issued is refused (a typo would leave
 * the certificate meant to be revoked valid).
 */
import type { Argv, CommandModule } from 'yargs';
import { isoTime, loadAuthority, revokeSerials } from 'zmesh';
import { checkPath } from '../options.js';
import { guarded } from '../run.js';

interface Args {
  authority: string;
  serial: number[];
  json: boolean;
}

export const certRevokeCommand: CommandModule<object, Args> = {
  command: 'revoke',
  describe: "revoke certificates by serial (updates the authority's revoked.list)",
  builder: (y: Argv) => y
    .option('authority', { type: 'string', requiresArg: true, demandOption: true, describe: 'the authority directory' })
    .option('serial', { type: 'number', array: true, requiresArg: true, demandOption: true, describe: 'a serial to revoke (repeatable)' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .check((a) => {
      checkPath('authority', a.authority);
      if (a.serial.length === 0 || a.serial.some((s) => !Number.isSafeInteger(s) || s < 1)) throw new Error('--serial takes positive whole numbers');
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded((args: Args) => {
    const r = revokeSerials(loadAuthority(args.authority), args.authority, args.serial);
    if (args.json) {
      console.log(JSON.stringify(r));
      return;
    }
    console.log(`${r.file} now revokes ${r.serials.length} certificate(s): serial ${r.serials.join(', ')}`);
    console.log(`signed ${isoTime(r.issuedMs)}; give this file to every node`);
  }),
};
