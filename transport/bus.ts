/**
 * The node's event bus: typed NodeEvents to any number of listeners. Its own small
 * module so that every layer can emit (peers: peer:up/down; reliable: outbox:acked)
 * without owning the bus or reaching for the node.
 */
import { EventEmitter } from 'node:events';
import type { NodeEvent, NodeEventOf, NodeEventType } from './types.js';

export interface EventBus {
  /** Adds a listener; returns the function that removes it. */
  on<T extends NodeEventType>(type: T, listener: (event: NodeEventOf<T>) => void): () => void;
  emit(event: NodeEvent): void;
}

export function createEventBus(): EventBus {
  const emitter = new EventEmitter();
  return {
    on: (type, listener) => {
      emitter.on(type, listener);
      return () => { emitter.off(type, listener); };
    },
    emit: (event) => { emitter.emit(event.type, event); },
  };
}
