/**
 * The production build of the demo (`vite build`, served by `vite preview`) works in headless
 * Chromium: the bundled worker finds WebGPU, loads the built-in tiny model (shaders as built
 * assets) and streams a reply; no Node-only module is reached in the browser (it would fail here).
 *
 * Tolerance: exact — the reply must equal the CPU reference's greedy text (f32 weights and KV;
 * see chat.test.ts for why greedy ids match exactly).
 */
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/tiny.js';
import { startBrowser, type BrowserSession } from './browser.js';
import { pageActions } from './page-actions.js';
import { ReferenceChat } from './reference-chat.js';

let session: BrowserSession;
let page: Page;
let consoleErrors: string[];

const { state, setValue } = pageActions(() => page);

describe('demo production build', () => {
  beforeAll(async () => {
    await ensureDefaultModel();
    session = await startBrowser({ built: true });
    ({ page, consoleErrors } = await session.open('index.html'));
  });
  afterAll(async () => session?.close());

  it('loads the tiny model and replies exactly as the CPU reference', async () => {
    await state('no-model');
    expect(await page.$eval('#adapter-line', (e) => e.textContent)).toMatch(/swiftshader/i);
    await page.select('#weight-format', 'f32');
    await page.select('#kv-format', 'f32');
    await setValue('#max-context', '128');
    await page.click('#load');
    await state('loading');
    await state('ready');
    await setValue('#temperature', '0');
    await setValue('#max-tokens', '4');
    await page.type('#prompt', 'Built?');
    await page.keyboard.press('Enter');
    await state('generating');
    await state('ready');
    const reply = await page.$eval('.message.assistant .body', (e) => e.textContent);
    const reference = await ReferenceChat.load(await ensureDefaultModel());
    expect(reply).toBe(reference.reply([{ role: 'user', content: 'Built?' }], 4, false).text);
    expect(consoleErrors.filter((e) => !/404 \(Not Found\)/.test(e))).toEqual([]);
  });
});
