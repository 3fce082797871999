/** In headless Chromium (SwiftShader): the page gets a WebGPU adapter and runs a kernel correctly. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowser, type BrowserSession } from './browser.js';

describe('browser WebGPU smoke test', () => {
  let session: BrowserSession;
  beforeAll(async () => {
    session = await startBrowser();
  });
  afterAll(async () => session?.close());

  it('runs RMSNorm in the page and matches the CPU reference', async () => {
    const { page } = await session.open('smoke/index.html');
    await page.waitForFunction('window.__smoke !== undefined', { timeout: 120_000 });
    const result = (await page.evaluate('window.__smoke')) as { adapter?: string; maxError?: number; error?: string };
    expect(result.error).toBeUndefined();
    expect(result.adapter).toMatch(/swiftshader/i);
    expect(result.maxError).toBeLessThan(1e-4);
  });
});
