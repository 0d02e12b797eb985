/**
 * protobufjs decodes uint64 to a Long object whenever long.js is present, whatever
 * pbjs was told (--force-number only changes the typings). Our uint64 fields (seqs,
 * times) stay far below 2^53, so they become plain numbers here, once, at the edge.
 */
export function toNumber(v: number | { toNumber(): number }): number {
  return typeof v === 'number' ? v : v.toNumber();
}
