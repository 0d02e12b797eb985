/** Waits for `p`, or `ms` at most, whichever comes first. Never rejects because of the
 *  deadline: used where close() must go on even when something hangs. */
export function settleWithin(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
