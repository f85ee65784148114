import { defineConfig } from 'vitest/config';

const shared = {
  testTimeout: 30_000,
  hookTimeout: 30_000,
};

export default defineConfig({
  test: {
    // Integration tests start real servers and child processes; two cores, so keep it modest.
    maxWorkers: 2,
    projects: [
      {
        test: { ...shared, name: 'suite', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: ['test/chaos.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        // The chaos run loads both cores for a minute: it runs alone, after everything else,
        // so that it neither slows nor is slowed by the timing-sensitive tests.
        test: { ...shared, name: 'chaos', include: ['test/chaos.test.ts'], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
