/** One system by name, importing only its own client library: a matrix cell forks a
 *  peer process or three, and loading every client in each cost about 0.3 s apiece. */
import type { System } from './types.js';

const LOADERS: Record<string, () => Promise<System>> = {
  'raw-zeromq': async () => (await import('./raw-zmq.js')).rawZmq,
  zmesh: async () => (await import('./zmesh.js')).zmeshFast,
  'zmesh-reliable': async () => (await import('./zmesh.js')).zmeshReliable,
  'zmesh-secure': async () => (await import('./zmesh.js')).zmeshSecure,
  'zmesh-secure-reliable': async () => (await import('./zmesh.js')).zmeshSecureReliable,
  nats: async () => (await import('./nats.js')).nats,
  rabbitmq: async () => (await import('./rabbitmq.js')).rabbitmq,
  'mqtt-qos0': async () => (await import('./mqtt.js')).mqttQos0,
  'mqtt-qos1': async () => (await import('./mqtt.js')).mqttQos1,
};

export async function loadSystem(name: string): Promise<System> {
  const load = LOADERS[name];
  if (load === undefined) throw new Error(`unknown system "${name}"`);
  return load();
}
