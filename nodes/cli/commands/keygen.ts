/**
 * `zmesh keygen --out FILE`: a node's long-term CURVE key pair. Writes FILE (the secret,
 * mode 0600, never overwritten) and FILE.pub (the public key, for `zmesh cert issue
 * --key` and for authorized-keys directories). A node using the key must be named
 * "<service>-<fingerprint>", so the fingerprint is printed too. A missing directory of
 * FILE is created (0700), so `--out product-credentials/node.key` starts the layout
 * that `zmesh node --credentials` reads.
 */
import { dirname } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { SecurityError, generateNodeKeys, isServiceName, keyFingerprint, nodeIdFor, saveNodeKeys } from 'zmesh';
import { checkPath } from '../options.js';
import { makeDirectory } from '../paths.js';
import { guarded } from '../run.js';

interface Args {
  out: string;
  service?: string;
  json: boolean;
}

export const keygenCommand: CommandModule<object, Args> = {
  command: 'keygen',
  describe: 'create a node key pair (FILE, mode 0600, and FILE.pub)',
  builder: (y: Argv) => y
    .option('out', { type: 'string', requiresArg: true, demandOption: true, describe: 'the secret key file to create; the public key goes to FILE.pub' })
    .option('service', { type: 'string', requiresArg: true, describe: 'also print the node id this key gives a node of this service' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .check((a) => {
      checkPath('out', a.out);
      if (a.service !== undefined && !isServiceName(a.service)) throw new Error(`--service must be a service name ([a-z0-9][a-z0-9_-]{0,31}), got ${JSON.stringify(a.service)}`);
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded((args: Args) => {
    const keys = generateNodeKeys();
    makeDirectory(dirname(args.out), 0o700, (message, cause) => new SecurityError('config', message, cause === undefined ? {} : { cause }));
    saveNodeKeys(args.out, keys);
    const fingerprint = keyFingerprint(keys.publicKey);
    const nodeIdRule = `<service>-${fingerprint}`;
    const nodeId = args.service === undefined ? undefined : nodeIdFor(args.service, keys.publicKey);
    if (args.json) {
      console.log(JSON.stringify({ file: args.out, publicFile: `${args.out}.pub`, publicKey: keys.publicKey, fingerprint, nodeIdRule, ...(nodeId === undefined ? {} : { nodeId }) }));
      return;
    }
    console.log(`wrote ${args.out} (secret, mode 0600) and ${args.out}.pub`);
    console.log(`public key   ${keys.publicKey}`);
    console.log(`fingerprint  ${fingerprint}`);
    console.log(`node id      ${nodeId ?? `${nodeIdRule} (a node using this key must be named so, e.g. order-${fingerprint})`}`);
  }),
};
