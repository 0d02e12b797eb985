/**
 * `zmesh authority init --dir DIR`: a new mesh authority (an ed25519 key pair) that
 * signs node certificates. DIR/authority.key stays with the operator; DIR/authority.pub
 * goes to every node as its trust anchor.
 */
import type { Argv, CommandModule } from 'yargs';
import { AUTHORITY_KEY_FILE, AUTHORITY_PUB_FILE, createAuthority } from 'zmesh';
import { checkPath } from '../options.js';
import { guarded } from '../run.js';

interface InitArgs {
  dir: string;
  json: boolean;
}

const initCommand: CommandModule<object, InitArgs> = {
  command: 'init',
  describe: `create an authority: DIR/${AUTHORITY_KEY_FILE} (private, 0600) and DIR/${AUTHORITY_PUB_FILE}`,
  builder: (y: Argv) => y
    .option('dir', { type: 'string', requiresArg: true, demandOption: true, describe: 'the authority directory (created 0700 if missing)' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .check((a) => {
      checkPath('dir', a.dir);
      return true;
    }) as unknown as Argv<InitArgs>,
  handler: guarded((args: InitArgs) => {
    const publicKey = createAuthority(args.dir).publicKey.toString('hex');
    if (args.json) {
      console.log(JSON.stringify({ dir: args.dir, publicKey }));
      return;
    }
    console.log(`created an authority in ${args.dir}: keep ${AUTHORITY_KEY_FILE} private, give ${AUTHORITY_PUB_FILE} to every node`);
    console.log(`public key  ${publicKey}`);
  }),
};

export const authorityCommand: CommandModule = {
  command: 'authority',
  describe: 'manage a mesh authority (the key that signs node certificates)',
  builder: (y: Argv) => y.command(initCommand).demandCommand(1, 'name an authority command: init'),
  handler: () => undefined,
};
