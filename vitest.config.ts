import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real nats-server processes; give them room but keep the suite bounded.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
