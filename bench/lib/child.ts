/** Starts a bench server in its own process and waits for the endpoint it reports. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ServerHandle {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startServer(kind: string, args: Record<string, unknown> = {}): Promise<ServerHandle> {
  const file = fileURLToPath(new URL(`../servers/${kind}.js`, import.meta.url));
  const child: ChildProcess = fork(file, [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { endpoint: string }) => resolve(m.endpoint));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
