/** CI sets CI=true (bash .ci/run); some checks are stricter there. */
export const isCi = (): boolean => /^(1|true|yes)$/i.test(process.env['CI'] ?? '');
