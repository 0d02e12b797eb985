/**
 * Where a command's settings come from, in one precedence:
 *
 *   1. command-line flags          --port 5555
 *   2. ZMESH_* environment         ZMESH_PORT=5555
 *   3. the config file             {"port": 5555} in --config FILE, or in $ZMESH_CONFIG
 *   4. the defaults
 *
 * The settings, their environment variables and their types are declared once, in
 * zmesh-config.schema.json (shipped beside this module for editors and tools). Every
 * value, whatever its source, is checked by the library's own option checks
 * (checkNodeOptions) where it becomes a node option, so the CLI refuses exactly what
 * createNode would, with the same words, naming where the value came from:
 *
 *   zmesh: ZMESH_PORT must be an integer 0..65535 (0: any free port), got "x"
 *
 * and exit 2, before anything runs (main.ts runs this as yargs middleware, before
 * yargs' own checks). A command ignores the file's keys it has no flag for, so one
 * file serves a node and the clients beside it; a key the schema does not know is a
 * typo and refused. An environment variable set to "" counts as not set.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkNodeOptions, type NodeOptions } from 'zmesh';
import { checkMesh, isPeerEntry } from './options.js';
import schema from './zmesh-config.schema.json' with { type: 'json' };

type Property = { type?: string; enum?: string[]; 'x-env'?: string };
const PROPERTIES = schema.properties as Record<string, Property>;

/** A setting: its key in the file (the long flag's name, but "peers" for --peer). */
export type Setting = Exclude<keyof typeof schema.properties, '$schema'>;

/** The flag a setting is given with on the command line. */
const flagOf = (s: Setting): string => (s === 'peers' ? 'peer' : s);

/** The createNode option each setting becomes, for the library's checks. */
const LIBRARY_OPTION: Partial<Record<Setting, keyof NodeOptions>> = {
  // discovery is checked against the schema's list: "dns" is only whole with the DNS
  // settings (zmesh node checks the two together).
  mesh: 'mesh', interface: 'interface', peers: 'peers', 'node-id': 'nodeId', port: 'routerPort', 'pub-port': 'pubPort',
  advertise: 'advertise', 'summary-interval': 'summaryIntervalMs',
};
/** Settings that are a field of a createNode option object ("metrics.port"). */
const NESTED_OPTION: Partial<Record<Setting, [keyof NodeOptions, string]>> = {
  'metrics-port': ['metrics', 'port'], 'metrics-host': ['metrics', 'host'],
};
const PATHS: readonly Setting[] = ['data', 'credentials'];

/** Every ZMESH_* variable the settings read, and the config file's. */
export const CONFIG_ENV = 'ZMESH_CONFIG';
export const ENV_VARS: readonly string[] = [CONFIG_ENV, ...Object.values(PROPERTIES).flatMap((p) => (p['x-env'] === undefined ? [] : [p['x-env']]))];

/** The settings each command takes. */
export const COMMAND_SETTINGS: Readonly<Record<string, readonly Setting[]>> = {
  node: ['mesh', 'interface', 'peers', 'discovery', 'log-level', 'node-id', 'port', 'pub-port', 'advertise', 'data', 'credentials', 'insecure', 'metrics-port', 'metrics-host', 'summary-interval'],
  call: ['mesh', 'interface', 'peers', 'discovery', 'log-level', 'credentials', 'insecure'],
  watch: ['mesh', 'interface', 'peers', 'discovery', 'log-level', 'credentials', 'insecure'],
  peers: ['mesh', 'interface', 'peers', 'discovery', 'log-level', 'credentials', 'insecure'],
  top: ['mesh', 'interface', 'peers', 'discovery', 'log-level', 'credentials', 'insecure'],
  demo: ['interface', 'log-level'],
};

/** Defaults that do not depend on the command (log-level does: see resolveConfig). */
const DEFAULTS: Partial<Record<Setting, unknown>> = { mesh: 'default', insecure: false };

interface Sourced { value: unknown; from: string }

/** A value from the environment, turned into the schema's type. */
function fromEnv(setting: Setting, name: string, text: string): unknown {
  const type = PROPERTIES[setting]!.type;
  if (type === 'integer') return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
  if (type === 'array') return text.split(/[\s,]+/).filter((p) => p !== '');
  if (type === 'boolean') {
    if (/^(1|true|yes)$/i.test(text)) return true;
    if (/^(0|false|no)$/i.test(text)) return false;
    throw new Error(`${name} must be true or false (or 1 or 0), got ${JSON.stringify(text)}`);
  }
  return text;
}

/** The file's value must already have the schema's JSON type; ranges are the library's. */
function checkJsonType(setting: Setting, label: string, value: unknown): void {
  const { type } = PROPERTIES[setting]!;
  const ok = type === 'integer' ? Number.isInteger(value)
    : type === 'array' ? Array.isArray(value) && value.every((v) => typeof v === 'string')
      : type === 'boolean' ? typeof value === 'boolean'
        : typeof value === 'string';
  const what = type === 'array' ? 'an array of strings' : type === 'integer' ? 'an integer' : `a ${type ?? 'string'}`;
  if (!ok) throw new Error(`${label} must be ${what}, got ${JSON.stringify(value)}`);
}

/** A flag's text as the setting's type: ports are taken as text, so "x" is named. */
function fromFlag(setting: Setting, value: unknown): unknown {
  if (PROPERTIES[setting]!.type === 'integer' && typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value);
  return value;
}

/** Refuses a bad value, in the library's words where it is a node option. */
function check(setting: Setting, { value, from }: Sourced, command: string): void {
  // The mesh and the peers are said in the CLI's words, which name the rule rather
  // than a regular expression; the validators are the library's all the same.
  if (setting === 'mesh') return checkMesh(value, command === 'peers', from);
  if (setting === 'peers') {
    const bad = (value as string[]).find((p) => !isPeerEntry(p));
    if (bad !== undefined) throw new Error(`${from === '--peer' ? '--peer' : `${from} entry`} "${bad}" is not an endpoint like tcp://10.0.0.7:5555 (port 1 to 65535), optionally followed by #<its public key, 64 lowercase hex>`);
    return;
  }
  const nested = NESTED_OPTION[setting];
  const option = nested === undefined ? LIBRARY_OPTION[setting] : `${nested[0]}.${nested[1]}`;
  if (option !== undefined) {
    try {
      // A nested field is checked with a port beside it: metrics need one or a registry.
      checkNodeOptions(nested === undefined ? { [option]: value } : { [nested[0]]: { port: 0, [nested[1]]: value } });
    } catch (err) {
      // "routerPort must be ..." / "peers[1] must be ...": said of where the value came from.
      const message = (err as Error).message;
      throw new Error(message.startsWith(option) ? `${from}${message.slice(option.length)}` : `${from}: ${message}`);
    }
    return;
  }
  const { enum: choices } = PROPERTIES[setting]!;
  if (choices !== undefined && !choices.includes(value as string)) throw new Error(`${from} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  if (PATHS.includes(setting)) {
    if (value === '') throw new Error(`${from} needs a path, got ""`);
    if (String(value).includes('\0')) throw new Error(`${from} must not contain a NUL byte`);
  }
}

/** Reads and checks the config file: JSON, an object, only keys the schema knows. */
export function readConfigFile(file: string, label: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${label}: cannot read it: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${label} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${label} must hold a JSON object, like {"mesh": "shop"}`);
  const unknown = Object.keys(parsed).filter((k) => !(k in PROPERTIES));
  if (unknown.length > 0) throw new Error(`${label}: unknown setting ${unknown.map((k) => JSON.stringify(k)).join(', ')}; known: ${Object.keys(PROPERTIES).filter((k) => k !== '$schema').join(', ')}`);
  return parsed as Record<string, unknown>;
}

/**
 * Fills `argv` (yargs' parsed arguments, flags only) with each setting of `command`
 * from the first source that has it, checked. Throws a one-line usage error.
 * `defaultLogLevel`: a node says at info who comes and goes; clients keep quiet.
 */
export function resolveConfig(argv: Record<string, unknown>, command: string, env: NodeJS.ProcessEnv = process.env): void {
  const settings = COMMAND_SETTINGS[command];
  if (settings === undefined) return;
  const configFlag = argv['config'] as string | undefined;
  const configPath = configFlag ?? (env[CONFIG_ENV] === '' ? undefined : env[CONFIG_ENV]);
  const configLabel = configFlag !== undefined ? `--config ${configFlag}` : `${CONFIG_ENV}=${configPath}`;
  if (configPath !== undefined && (configPath === '' || configPath.includes('\0'))) throw new Error(`${configLabel} must name a file`);
  const file = configPath === undefined ? {} : readConfigFile(resolve(configPath), `config file ${configPath}`);
  for (const setting of settings) {
    const flag = flagOf(setting);
    const envName = PROPERTIES[setting]!['x-env']!;
    const envText = env[envName];
    let chosen: Sourced | undefined;
    if (argv[flag] !== undefined) chosen = { value: fromFlag(setting, argv[flag]), from: `--${flag}` };
    else if (envText !== undefined && envText !== '') chosen = { value: fromEnv(setting, envName, envText), from: envName };
    else if (setting in file) {
      const from = `"${setting}" in config file ${configPath}`;
      checkJsonType(setting, from, file[setting]);
      chosen = { value: file[setting], from };
    }
    if (chosen === undefined) {
      const fallback = setting === 'log-level' ? (command === 'node' ? 'info' : 'warn') : DEFAULTS[setting];
      if (fallback === undefined) continue;
      chosen = { value: fallback, from: 'the default' };
    }
    check(setting, chosen, command);
    argv[flag] = chosen.value;
    // yargs gives every dashed option a camelCase twin; keep the two equal.
    const camel = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (camel !== flag) argv[camel] = chosen.value;
  }
}
