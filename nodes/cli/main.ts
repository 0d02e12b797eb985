#!/usr/bin/env node
/**
 * The `zmesh` command line. Each command lives in its own module; this file only
 * wires them to yargs. Signal handling and console output belong here, never in
 * transport/.
 */
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runtimeInfo } from 'zmesh';
import { authorityCommand } from './commands/authority.js';
import { callCommand } from './commands/call.js';
import { certCommand } from './commands/cert.js';
import { demoCommand } from './commands/demo.js';
import { keygenCommand } from './commands/keygen.js';
import { nodeCommand } from './commands/node.js';
import { outboxCommand } from './commands/outbox.js';
import { peersCommand } from './commands/peers.js';
import { statusCommand } from './commands/status.js';
import { topCommand } from './commands/top.js';
import { watchCommand } from './commands/watch.js';
import { resolveConfig } from './config.js';
import { EXIT_USAGE } from './run.js';

/** Bad usage: one clear line, the pointer to --help, exit 2. */
function usageFailure(message: string): never {
  // yargs writes some messages over several lines ("Invalid values:\n  Argument: ...").
  const line = message.replace(/:?\s*\n\s*/g, ': ');
  console.error(`zmesh: ${line}\nrun "zmesh --help" for usage`);
  process.exit(EXIT_USAGE);
}

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

await yargs(hideBin(process.argv))
  .scriptName('zmesh')
  .usage('$0 <command> [options]\n\nA brokerless messaging mesh: ZeroMQ, protobuf, mDNS.')
  .command(
    'version',
    'print the zmesh, protocol, libzmq and Node.js versions',
    (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
    (argv) => {
      const info = { zmesh: pkg.version, ...runtimeInfo() };
      if (argv.json) console.log(JSON.stringify(info));
      else for (const [k, v] of Object.entries(info)) console.log(`${k.padEnd(16)}${String(v)}`);
    },
  )
  .command(nodeCommand)
  .command(demoCommand)
  .command(callCommand)
  .command(watchCommand)
  .command(peersCommand)
  .command(outboxCommand)
  .command(statusCommand)
  .command(topCommand)
  .command(keygenCommand)
  .command(authorityCommand)
  .command(certCommand)
  // The fail hook below adds the pointer to --help: said once.
  .demandCommand(1, 'name a command')
  // Settings a command leaves to the environment or the config file are filled in
  // here, checked, before yargs' own checks see them (config.ts).
  // yargs does not route a middleware's throw to fail(): report it the same way.
  .middleware((argv) => {
    try {
      resolveConfig(argv as Record<string, unknown>, String(argv._[0] ?? ''));
    } catch (err) {
      usageFailure((err as Error).message);
    }
  }, true)
  // Said as the option is written: options.ts explains why every value is required.
  .updateStrings({ 'Not enough arguments following: %s': '--%s needs a value' })
  .strict()
  .version(pkg.version)
  .help()
  // Only usage problems reach here (commands catch their own errors, see run.ts):
  // one clear line and exit 2.
  .fail((msg, err) => usageFailure(msg ?? err?.message ?? 'bad usage'))
  .parseAsync();
