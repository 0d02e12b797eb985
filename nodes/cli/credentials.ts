/**
 * The credential options of the commands that join a mesh (node, call, watch), and
 * what they become: createNode's `security`, or `insecure: true` when the operator
 * says --insecure. Secure by default: without credentials a command refuses to start
 * and prints, on one line, the commands that make them.
 *
 *   --credentials DIR     DIR/node.key, DIR/node.cert, DIR/authority.pub and, when it
 *                         appears, DIR/revoked.list (commerce/credentials.ts)
 *   --key --cert --authority   the same files named one by one
 *   --revocations FILE    either way: the revocation list, re-read when it changes
 *   --audit FILE          either way: audit events appended to FILE too
 *   --insecure            none of the above: no security at all, loudly
 */
import type { Argv } from 'yargs';
import { MAX_CERTIFICATE_BYTES, SecurityError, isEndpoint, type Permissions, type SecurityOptions } from 'zmesh';
import { AUTHORITY_PUB_FILE, CERT_FILE, KEY_FILE, credentialFilesIn, loadSecurity, type CredentialFiles } from '../commerce/credentials.js';
import { certIssueArgs } from '../commerce/permissions.js';
import { checkPath } from './options.js';
import { checkRegularFile } from './paths.js';

export interface CredentialArgs {
  credentials?: string;
  key?: string;
  cert?: string;
  authority?: string[];
  revocations?: string;
  audit?: string;
  insecure: boolean;
  peer?: string[];
}

/** The files --credentials DIR stands for (--revocations may still override DIR's). */
const IN_DIR = ['key', 'cert', 'authority'] as const;

export function credentialOptions<T>(y: Argv<T>): Argv<T & CredentialArgs> {
  return y
    .option('credentials', { type: 'string', requiresArg: true, describe: `directory holding ${KEY_FILE}, ${CERT_FILE} and ${AUTHORITY_PUB_FILE} (and revoked.list, when there is one; ZMESH_CREDENTIALS)` })
    .option('key', { type: 'string', requiresArg: true, describe: 'node key file (zmesh keygen); must be private to its owner (chmod 600)' })
    .option('cert', { type: 'string', requiresArg: true, describe: 'certificate file (zmesh cert issue)' })
    .option('authority', { type: 'string', requiresArg: true, array: true, describe: 'authority.pub to trust, or a directory holding one (repeatable)' })
    .option('revocations', { type: 'string', requiresArg: true, describe: 'revocation list file (zmesh cert revoke), re-read when it changes (default with --credentials: DIR/revoked.list)' })
    .option('audit', { type: 'string', requiresArg: true, describe: 'also append audit events to this file (JSON lines)' })
    // No yargs default: config.ts tells a flag from ZMESH_INSECURE and the config file.
    .option('insecure', { type: 'boolean', describe: 'run WITHOUT security: anyone who can reach the node can join, forge and read (ZMESH_INSECURE)' })
    .check((a) => {
      for (const k of ['credentials', ...IN_DIR, 'revocations', 'audit'] as const) checkPath(k, a[k]);
      const named = IN_DIR.filter((k) => a[k] !== undefined);
      const given = [...(a.credentials === undefined ? [] : ['credentials']), ...named, ...(['revocations', 'audit'] as const).filter((k) => a[k] !== undefined)];
      if (a.insecure && given.length > 0) throw new Error(`--insecure contradicts --${given[0]!}: choose credentials or no security`);
      if (a.credentials !== undefined && named.length > 0) throw new Error(`--credentials names the files itself; drop --${named[0]!}`);
      if (a.credentials === undefined && (named.length > 0 || a.revocations !== undefined)) {
        const missing = IN_DIR.filter((k) => a[k] === undefined);
        if (missing.length > 0) throw new Error(`--${named[0] ?? 'revocations'} needs ${missing.map((k) => `--${k}`).join(' and ')} too (or --credentials DIR)`);
      }
      // A secure node cannot dial a peer whose key it does not know, and the library
      // would only skip it quietly. (A malformed entry is left to the --peer check.)
      const keyless = a.insecure ? undefined : (a.peer as string[] | undefined)?.find((p) => isEndpoint(p));
      if (keyless !== undefined) {
        throw new Error(`--peer "${keyless}" has no #<public key>: a secure node only dials peers whose key it knows (the key is in the peer's ready line), e.g. tcp://10.0.0.7:5555#<64 hex>`);
      }
      return true;
    }) as unknown as Argv<T & CredentialArgs>;
}

/** What createNode gets from the credential options. */
export type Trust = { security: SecurityOptions } | { insecure: true };

/** The files the options name, or undefined when they name none. */
function filesOf(args: CredentialArgs): CredentialFiles | undefined {
  const extra = { ...(args.audit === undefined ? {} : { audit: args.audit }), ...(args.revocations === undefined ? {} : { revocations: args.revocations }) };
  if (args.credentials !== undefined) return { ...credentialFilesIn(args.credentials), ...extra };
  if (args.key === undefined || args.cert === undefined || args.authority === undefined) return undefined;
  return { key: args.key, certificate: args.cert, authorities: args.authority, ...extra };
}

/**
 * Loads the credentials the options name. Throws (one line, exit 1 via guarded) when
 * there are none and no --insecure: `howTo` says what would make them. A key file
 * others may read, or a missing file, throws SecurityError naming it.
 */
export function resolveTrust(args: CredentialArgs, howTo: () => string): Trust {
  if (args.insecure) return { insecure: true };
  const files = filesOf(args);
  if (files === undefined) throw new Error(howTo());
  // The key and authority files are read by zmesh, which takes regular files only; the
  // certificate is read here, in nodes/, so it is checked here.
  checkRegularFile(files.certificate, MAX_CERTIFICATE_BYTES, (message) => new SecurityError('certificate', message));
  return { security: loadSecurity(files) };
}

/**
 * The one line that says how to make credentials for a node of `service` in `mesh`
 * with `permissions`: the three commands, in order, with the files --credentials
 * expects, and the --insecure way out.
 */
export function credentialsHowTo(what: string, service: string, mesh: string, permissions: Permissions): string {
  const dir = `${service}-credentials`;
  const issue = ['zmesh', 'cert', 'issue', '--authority', 'authority', '--mesh', mesh, '--service', service, '--key', `${dir}/${KEY_FILE}.pub`,
    ...certIssueArgs(permissions), '--out', `${dir}/${CERT_FILE}`].map(shellWord).join(' ');
  return `${what} needs credentials: create them with "zmesh authority init --dir authority", "zmesh keygen --out ${dir}/${KEY_FILE}" `
    + `and "${issue}", copy authority/${AUTHORITY_PUB_FILE} into ${dir}/, then add --credentials ${dir} `
    + '(or --insecure to run without any security)';
}

/** `s` as one shell word: quoted when the shell would expand or split it ("*"). */
const shellWord = (s: string): string => (/^[A-Za-z0-9._,/:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The warning printed whenever a command runs insecure. */
export function insecureWarning(what: string): string {
  return `zmesh: WARNING: ${what} runs INSECURE (--insecure): no encryption, no authentication; anyone who can reach it can join the mesh, forge messages and read them`;
}
