/**
 * MQTT through Mosquitto with mqtt.js, at QoS 0 and QoS 1. mqtt.js leaves Nagle on,
 * which costs about 44 ms a round trip here, so TCP_NODELAY is set on its socket at
 * every connect. RPC is the MQTT 5 request/response pattern: a request topic, and a
 * response topic the replier publishes to.
 */
import mqttLib, { type MqttClient } from 'mqtt';
import { spawnSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { Fifo, portOpen, type System } from './types.js';

const URL = 'mqtt://127.0.0.1:1883';

/** MQTT has no server version on the wire; ask the installed broker binary. */
function mosquittoVersion(): string {
  const r = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' });
  return /mosquitto version (\S+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[0] ?? 'mosquitto (version unknown)';
}

async function open(): Promise<MqttClient> {
  const client = await mqttLib.connectAsync(URL, { protocolVersion: 5, reconnectPeriod: 0, clean: true });
  const nodelay = (): void => { (client.stream as Socket).setNoDelay?.(true); };
  nodelay();
  client.on('connect', nodelay);
  return client;
}

function mqttSystem(qos: 0 | 1): System {
  return {
    name: `mqtt-qos${qos}`,
    settings: `mqtt.js MQTT 5, QoS ${qos}, TCP_NODELAY set${qos === 1 ? ', publish resolves on PUBACK' : ''}`,
    unavailable: async () => (await portOpen(1883) ? undefined : 'no Mosquitto on 127.0.0.1:1883 (run bench/brokers.sh up)'),
    version: async () => mosquittoVersion(),
    serveRpc: async (p) => {
      const c = await open();
      c.on('message', (_topic, payload) => { c.publish(`bench/${p.id}/res`, payload, { qos }); });
      await c.subscribeAsync(`bench/${p.id}/req`, { qos });
      return { close: () => c.endAsync() };
    },
    rpcClient: async (p) => {
      const c = await open();
      const fifo = new Fifo();
      c.on('message', () => fifo.shift());
      await c.subscribeAsync(`bench/${p.id}/res`, { qos });
      const topic = `bench/${p.id}/req`;
      return {
        request: (payload) => new Promise<void>((resolve) => {
          fifo.push(resolve);
          c.publish(topic, payload, { qos, properties: { responseTopic: `bench/${p.id}/res` } });
        }),
        close: () => c.endAsync(),
      };
    },
    publisher: async (p) => {
      const c = await open();
      const topic = `bench/${p.id}/data`;
      return {
        publish: qos === 0 ? (payload) => { c.publish(topic, payload, { qos }); } : async (payload) => { await c.publishAsync(topic, payload, { qos }); },
        // Resolves once mqtt.js has handed everything queued so far to the socket and
        // the socket has written it ('drain' only fires after a refused write).
        flush: async () => {
          const s = c.stream as Socket;
          while (s.writableLength > 0 || (c as unknown as { queue: unknown[] }).queue?.length > 0) await new Promise((r) => setTimeout(r, 1));
        },
        close: () => c.endAsync(),
      };
    },
    subscribe: async (p, onMessage) => {
      const c = await open();
      c.on('message', (_t, payload) => onMessage(payload));
      await c.subscribeAsync(`bench/${p.id}/data`, { qos });
      return { close: () => c.endAsync() };
    },
    ...(qos === 1 ? {
      reliablePublisher: async (p) => {
        const c = await open();
        const topic = `bench/${p.id}/data`;
        return { publish: async (payload: Buffer) => { await c.publishAsync(topic, payload, { qos: 1 }); }, flush: async () => undefined, close: () => c.endAsync() };
      },
    } : {}),
  };
}

export const mqttQos0 = mqttSystem(0);
export const mqttQos1 = mqttSystem(1);
