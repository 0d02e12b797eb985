/**
 * Topic rules. Application topics are UTF-8, 1..256 bytes, and never start with "$":
 * that prefix is reserved for control topics such as "$sync/". Subscriptions match by
 * byte prefix, exactly as ZeroMQ SUB filters do.
 */
import { InvalidArgumentError } from '../errors.js';
import { SYNC_TOPIC_PREFIX, utf8Over } from '../codec/envelope.js';
import { MAX_SUBJECT_BYTES } from '../limits.js';

export function validateTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0 || utf8Over(topic, MAX_SUBJECT_BYTES)) {
    throw new InvalidArgumentError(`topic must be 1..${MAX_SUBJECT_BYTES} bytes of UTF-8`);
  }
  if (topic.startsWith('$')) throw new InvalidArgumentError(`topic "${topic}" starts with "$", which is reserved`);
}

export function validatePrefix(prefix: string): void {
  if (typeof prefix !== 'string' || utf8Over(prefix, MAX_SUBJECT_BYTES)) {
    throw new InvalidArgumentError(`subscription prefix must be 0..${MAX_SUBJECT_BYTES} bytes of UTF-8`);
  }
  if (prefix.startsWith('$')) throw new InvalidArgumentError(`prefix "${prefix}" starts with "$", which is reserved`);
}

/** The topic a subscriber subscribes to so that publisher `publisherId` answers `token`. */
export function syncTopic(publisherId: string, token: string): string {
  return `${SYNC_TOPIC_PREFIX}${publisherId}/${token}`;
}
