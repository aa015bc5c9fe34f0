import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Two cores: one Chromium at a time.
          fileParallelism: false,
        },
      },
      {
        // The tracker, engine and privacy suites again in Firefox ESR (WebDriver BiDi, see
        // test/e2e/firefox.ts). One browser at a time: vitest runs group 0 (unit), then this group,
        // then the e2e project (a project without file parallelism and without a groupOrder of its
        // own goes into a sequential group after the numbered ones).
        test: {
          name: 'e2e-firefox',
          include: ['test/e2e/tracker-browser.test.ts', 'test/e2e/engine-worker.test.ts', 'test/e2e/federated-privacy.test.ts'],
          environment: 'node',
          env: { HEARTH_BROWSER: 'firefox' },
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
