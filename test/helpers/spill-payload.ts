/** Event n of the spill tests: n in its first 8 bytes, then the byte n & 0xff. */
export function spillPayload(n: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes, n & 0xff);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}
