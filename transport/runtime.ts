/** What this build of zmesh runs on: for `zmesh version` and bug reports. */
import * as zmq from 'zeromq';
import { PROTOCOL_VERSION } from './codec/envelope.js';

export interface RuntimeInfo {
  protocolVersion: number;
  libzmq: string;
  /** CurveZMQ support in this libzmq build (needed for encrypted meshes). */
  curve: boolean;
  node: string;
}

export function runtimeInfo(): RuntimeInfo {
  return { protocolVersion: PROTOCOL_VERSION, libzmq: zmq.version, curve: zmq.capability.curve === true, node: process.version };
}
