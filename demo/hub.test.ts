/**
 * The demo page loading from a Hugging Face-style hub (src/io/hub-server.ts serving models/ as
 * "local/<name>"), as a user would with a repo id: the download phase shows bytes, files, speed
 * and ETA; Cancel stops it; loading again completes; a third load comes from the browser cache
 * without downloading a shard again; the loaded model replies exactly as the CPU reference
 * (f32 weights and KV: exact greedy text, see chat.test.ts).
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../src/io/hub-server.js';
import { ensureDefaultModel, MODELS_DIR } from '../src/model/tiny.js';
import { startBrowser, type BrowserSession } from './browser.js';
import { pageActions } from './page-actions.js';
import { ReferenceChat } from './reference-chat.js';

let hub: HubServer;
let session: BrowserSession;
let page: Page;

const { state, text, setValue } = pageActions(() => page);
const shardGets = () => hub.requests.filter((r) => r.method === 'GET' && r.path.endsWith('.safetensors')).length;

describe('demo page with a hub repo id', () => {
  beforeAll(async () => {
    await ensureDefaultModel();
    hub = await startHubServer({ root: MODELS_DIR });
    session = await startBrowser();
    ({ page } = await session.open('index.html'));
    await page.setViewport({ width: 1400, height: 900 });
    await state('no-model');
    await page.click('input[name=source][value=hub]');
    await setValue('#hub-repo', 'local/tiny-dense');
    await setValue('#hub-endpoint', hub.url);
    await page.select('#weight-format', 'f32');
    await page.select('#kv-format', 'f32');
    await setValue('#max-context', '128');
  });
  afterAll(async () => {
    await session?.close();
    await hub?.close();
  });

  it('shows download progress with speed and ETA, and Cancel stops the load', async () => {
    hub.faults.slow(40, { path: '.safetensors' }); // ~40 ms per 64 KiB: a few seconds of download
    await page.click('#load');
    const shardProgress = /^download \d+% · [\d.]+ \S+ \/ [\d.]+ MiB · files \d+\/\d+ · [\d.]+ \S+\/s · ETA \d+:\d\d · model-0000\d-of-00006\.safetensors$/;
    await page.waitForFunction((re) => new RegExp(re).test(document.getElementById('progress-text')?.textContent ?? ''), { timeout: 60_000 }, shardProgress.source);
    const fill = await page.$eval('#progress-fill', (e) => parseFloat((e as HTMLElement).style.width));
    expect(fill).toBeGreaterThan(0);
    expect(fill).toBeLessThan(100);
    mkdirSync('.test-output', { recursive: true });
    await page.screenshot({ path: '.test-output/demo-download.png' });
    await page.click('#cancel-load');
    await state('no-model');
    expect(await text('#model-status')).toBe('Loading cancelled.');
    expect(await page.$eval('#error-banner', (e) => (e as HTMLElement).hidden)).toBe(true);
  });

  it('loads when asked again, then a third time from the browser cache alone', async () => {
    hub.faults.clear();
    await page.click('#load');
    await state('loading');
    await state('ready');
    expect(await text('#model-status')).toMatch(/^Loaded .*local\/tiny-dense/);
    const gets = shardGets();
    expect(gets).toBeGreaterThan(0);

    await page.click('#load');
    await state('loading');
    await state('ready');
    expect(shardGets()).toBe(gets);
  });

  it('replies exactly as the CPU reference', async () => {
    await setValue('#temperature', '0');
    await setValue('#max-tokens', '4');
    await page.type('#prompt', 'From the hub?');
    await page.keyboard.press('Enter');
    await state('generating');
    await state('ready');
    const reference = await ReferenceChat.load(await ensureDefaultModel());
    const want = reference.reply([{ role: 'user', content: 'From the hub?' }], 4, false);
    expect(await text('.message.assistant .body')).toBe(want.text);
  });
});
