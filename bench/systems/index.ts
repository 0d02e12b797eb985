/** Every system the matrix knows, in table order: the floor first. */
import { mqttQos0, mqttQos1 } from './mqtt.js';
import { nats } from './nats.js';
import { rabbitmq } from './rabbitmq.js';
import { rawZmq } from './raw-zmq.js';
import type { System } from './types.js';
import { zmeshFast, zmeshReliable, zmeshSecure, zmeshSecureReliable } from './zmesh.js';

export const SYSTEMS: System[] = [rawZmq, zmeshFast, zmeshSecure, zmeshReliable, zmeshSecureReliable, nats, rabbitmq, mqttQos0, mqttQos1];
