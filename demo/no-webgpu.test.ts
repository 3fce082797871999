/**
 * The demo page in a Chromium without WebGPU: never a blank page — the header and adapter panel
 * say what is missing, the error banner explains it and offers to try again, and loading stays off.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowser, type BrowserSession } from './browser.js';

let session: BrowserSession;
let page: Page;

describe('demo page without WebGPU', () => {
  beforeAll(async () => {
    session = await startBrowser({ webgpu: false });
    ({ page } = await session.open('index.html'));
  });
  afterAll(async () => session?.close());

  it('explains that WebGPU is missing and offers to try again', async () => {
    await page.waitForSelector('#error-banner:not([hidden])', { timeout: 60_000 });
    const message = await page.$eval('#error-text', (e) => e.textContent ?? '');
    expect(message).toMatch(/^GpuUnavailableError: No WebGPU adapter available in this browser/);
    expect(await page.$eval('#adapter-line', (e) => e.textContent)).toMatch(/No WebGPU adapter/);
    expect(await page.$$eval('#error-actions button', (b) => b.map((x) => x.textContent))).toEqual(['Try again', 'Dismiss']);
    expect(await page.$eval('#send', (b) => (b as HTMLButtonElement).disabled)).toBe(true);

    await page.click('#error-actions button'); // Try again: a fresh worker probes again and fails the same way
    await page.waitForSelector('#error-banner:not([hidden])', { timeout: 60_000 });
    expect(await page.$eval('#error-text', (e) => e.textContent)).toBe(message);
    mkdirSync('.test-output', { recursive: true });
    await page.screenshot({ path: '.test-output/demo-no-webgpu.png' });
  });
});
