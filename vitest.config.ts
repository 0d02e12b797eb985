import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn real processes and real sockets; give them room on a 2-core machine,
    // but never retry: a flaky test is a bug to fix.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    retry: 0,
    pool: 'forks',
    // mDNS must never run on the host's real interfaces: transport/discovery refuses
    // to start it outside a network namespace while this is set (children inherit it).
    env: { ZMESH_MDNS_FORBID_ROOT_NETNS: '1' },
    fileParallelism: false,
    reporters: ['default'],
  },
});
