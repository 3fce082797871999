import type { Reporter, TestModule } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/** Ends every run with the line CI reads: "N passed, N failed". */
class SummaryLine implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = errors.length;
    for (const m of modules) {
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++;
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
      }
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  }
}

// GPU tests run on SwiftShader (a CPU Vulkan) in forked processes: Dawn is a native addon and
// must not share a process between test files. Two cores: two files at a time.
export default defineConfig({
  test: {
    include: ['kernels-test/**/*.test.ts', 'src/**/*.test.ts', 'demo/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 10_000,
    reporters: ['default', new SummaryLine()],
  },
});
