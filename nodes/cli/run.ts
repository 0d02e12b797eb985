/**
 * Exit-code discipline for CLI commands: 0 done, 1 the command failed (its message is
 * printed as one line, with the zmesh error code when there is one), 2 bad usage
 * (handled by yargs' fail hook in main.ts).
 */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function guarded<A>(handler: (args: A) => Promise<void> | void): (args: A) => Promise<void> {
  return async (args) => {
    try {
      await handler(args);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      console.error(`zmesh: ${e.message ?? String(err)}${e.code?.startsWith('ZMESH_ERR_') ? ` (${e.code})` : ''}`);
      process.exitCode = EXIT_FAILED;
    }
  };
}
