/**
 * `zmesh call <service> <method> [json]`: one request, its reply printed as JSON.
 * The request is given as JSON with the protobuf field names in lowerCamelCase and is
 * encoded with the method's schema; --raw sends the text as it is instead. It joins
 * the mesh as the client identity "cli" (credentials.ts), whose certificate allows the
 * shopper-facing and read-only requests and no reliable command.
 */
import type { Argv, CommandModule } from 'yargs';
import { MAX_SUBJECT_BYTES, isServiceName, isSubject } from 'zmesh';
import { Registry } from '../registry.js';
import { fromJson, toJson } from '../../commerce/codec.js';
import { credentialOptions, type CredentialArgs } from '../credentials.js';
import { findService, joinMesh } from '../mesh-client.js';
import { meshOptions, type MeshArgs } from '../options.js';
import { guarded } from '../run.js';

interface Args extends MeshArgs, CredentialArgs {
  service: string;
  method: string;
  json?: string;
  raw: boolean;
  timeout: number;
  wait: number;
}

const known = (): string => [...Registry.requestTypes.keys()].join(', ');

export const callCommand: CommandModule<object, Args> = {
  command: 'call <service> <method> [json]',
  describe: 'send a request to a service and print the reply as JSON',
  builder: (y: Argv) => credentialOptions(meshOptions(y
    .positional('service', { type: 'string', demandOption: true, describe: 'target service, e.g. product' })
    .positional('method', { type: 'string', demandOption: true, describe: 'method, e.g. GetProduct' })
    .positional('json', { type: 'string', describe: 'the request as a JSON object (default {})' })
    .option('raw', { type: 'boolean', default: false, describe: 'send the JSON text unencoded and print the reply as text (methods without a schema here)' })
    .option('timeout', { type: 'number', requiresArg: true, default: 10, describe: 'seconds to wait for the reply' })
    .option('wait', { type: 'number', requiresArg: true, default: 5, describe: 'at most this many seconds to find an instance of the service (a mesh that plainly has none answers NO_ROUTE sooner)' })))
    .check((a) => {
      if (!Number.isFinite(a.timeout) || a.timeout <= 0 || a.timeout > 600) throw new Error('--timeout must be a number of seconds between 0 and 600');
      if (!Number.isFinite(a.wait) || a.wait < 0 || a.wait > 600) throw new Error('--wait must be a number of seconds between 0 and 600');
      // A name no node can have would only run into --wait; say so now.
      if (!isServiceName(a.service)) throw new Error(`the service must be a service name ([a-z0-9][a-z0-9_-]{0,31}), got ${JSON.stringify(a.service)}`);
      if (!isSubject(a.method)) throw new Error(`the method must be 1 to ${MAX_SUBJECT_BYTES} bytes of UTF-8, got ${Buffer.byteLength(a.method)} bytes`);
      if (!a.raw && !Registry.requestTypes.has(`${a.service}.${a.method}`)) {
        throw new Error(`no schema for ${a.service}.${a.method}; known methods: ${known()} (or use --raw)`);
      }
      if (a.json !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(a.json);
        } catch (err) {
          throw new Error(`the request is not valid JSON: ${(err as Error).message}`);
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the request must be a JSON object, e.g. {"sku":"zmesh-mug"}');
        if (!a.raw) {
          try {
            fromJson(Registry.requestTypes.get(`${a.service}.${a.method}`)!.request, parsed as Record<string, unknown>);
          } catch (err) {
            throw new Error(`the request does not fit ${a.service}.${a.method}: ${(err as Error).message}`);
          }
        }
      }
      return true;
    }) as unknown as Argv<Args>,
  handler: guarded(async (args: Args) => {
    const types = Registry.requestTypes.get(`${args.service}.${args.method}`);
    const text = args.json ?? '{}';
    const payload = args.raw || types === undefined ? Buffer.from(text) : fromJson(types.request, JSON.parse(text) as Record<string, unknown>);
    const node = await joinMesh(args, 'call');
    try {
      // NO_ROUTE as soon as the mesh has plainly no such service, not at --wait.
      await findService(node, args.service, args);
      const reply = await node.request(args.service, args.method, payload, { timeoutMs: args.timeout * 1000 });
      console.log(args.raw || types === undefined ? Buffer.from(reply).toString() : JSON.stringify(toJson(types.response, reply)));
    } finally {
      await node.close();
    }
  }),
};
