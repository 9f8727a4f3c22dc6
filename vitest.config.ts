import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests start real servers (carpus, Orthanc, PostgreSQL); two cores: keep files serial.
    fileParallelism: false,
    pool: 'forks',
  },
});
