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
  .demandCommand(1, 'name a command; see zmesh --help')
  .strict()
  .version(pkg.version)
  .help()
  // Usage errors exit 2 with one clear line; errors thrown by a command propagate.
  .fail((msg, err) => {
    if (err !== undefined && err !== null) throw err;
    console.error(`zmesh: ${msg}\nrun "zmesh --help" for usage`);
    process.exit(2);
  })
  .parseAsync();
