/**
 * The demo page in headless Chromium on SwiftShader, driven like a user: check memory before
 * loading, a bad location (readable error, a way back), load the built-in tiny model, chat,
 * stop a reply, continue the conversation. A screenshot of the page after the replies goes to
 * .test-output/demo-chat.png.
 *
 * Tolerance: none — the streamed replies must equal the CPU reference's greedy text exactly.
 * The page loads f32 weights (the checkpoint's bf16 values, unrounded) and an f32 KV cache, so the
 * GPU and the reference differ only in accumulation order (~1e-6 relative); under these
 * conditions src/runtime/generate.test.ts asserts identical greedy ids on the same tiny models.
 * Memory: predicted must be what predictMemory computes for the same settings, and measured
 * equal to predicted (the allocator and the predictor share one plan: 0 % error), also in the
 * live readings the panel shows while a reply streams.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../src/io/progress.js';
import { predictMemory } from '../src/model/memory.js';
import { ensureDefaultModel, TINY_CONFIGS } from '../src/model/tiny.js';
import type { ChatMessage } from '../src/runtime/chat-template.js';
import { startBrowser, type BrowserSession } from './browser.js';
import { pageActions } from './page-actions.js';
import { ReferenceChat } from './reference-chat.js';

const SETTINGS = { weightFormat: 'f32', maxContext: 256, kvFormat: 'f32' } as const;
const GiB = 2 ** 30;

let session: BrowserSession;
let page: Page;
let consoleErrors: string[];
let reference: ReferenceChat;

const { state, text, setValue } = pageActions(() => page);

/** Types a message, sends it with Enter and waits until the reply is over. */
async function send(message: string, maxTokens: number): Promise<void> {
  await setValue('#max-tokens', String(maxTokens));
  await page.type('#prompt', message);
  await page.keyboard.press('Enter');
  await state('generating');
  await state('ready');
}

/** The conversation as the page shows it (user and assistant bodies, in order). */
function transcript(): Promise<ChatMessage[]> {
  return page.$$eval('#transcript .message', (nodes) =>
    nodes.map((n) => ({
      role: n.classList.contains('user') ? ('user' as const) : ('assistant' as const),
      content: n.classList.contains('user') ? (n.textContent ?? '') : (n.querySelector('.body')?.textContent ?? ''),
    })),
  );
}

describe('demo page', () => {
  beforeAll(async () => {
    reference = await ReferenceChat.load(await ensureDefaultModel());
    session = await startBrowser();
    ({ page, consoleErrors } = await session.open('index.html'));
    await page.setViewport({ width: 1400, height: 900 });
    await state('no-model');
  });
  afterAll(async () => session?.close());

  it('shows the adapter, and the predicted memory and fit checks before loading', async () => {
    expect(await text('#adapter-line')).toMatch(/swiftshader/i);
    expect(await text('#adapter-details')).toMatch(/maxStorageBufferBindingSize\s*1\.0 GiB/);
    await page.select('#weight-format', SETTINGS.weightFormat);
    await page.select('#kv-format', SETTINGS.kvFormat);
    await setValue('#max-context', String(SETTINGS.maxContext));
    await page.click('#inspect');
    await page.waitForSelector('#fit:not([hidden])');
    const predicted = predictMemory(TINY_CONFIGS.dense, SETTINGS, { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB } as GPUSupportedLimits);
    const fit = await text('#fit');
    expect(fit).toContain(`Predicted GPU memory: ${formatBytes(predicted.total)}`);
    expect(fit).toContain('Fits the adapter’s limits');
    expect(await page.$$eval('#fit li.ok', (l) => l.length)).toBe(4);
    expect(await text('#memory-bars')).toContain(formatBytes(predicted.byCategory.weights));
    expect(await page.$$eval('#memory-plot g.series[data-series="predicted total"] path', (p) => p.length)).toBe(1);
    expect(await page.$$eval('#memory-plot g.series[data-series="predicted kv-cache"] path', (p) => p.length)).toBe(1);
  });

  it('explains a location without a checkpoint and offers a way back', async () => {
    await page.click('input[name=source][value=url]');
    await setValue('#base-url', '/models/no-such-model');
    await page.click('#inspect');
    await page.waitForSelector('#error-banner:not([hidden])');
    expect(await text('#error-text')).toMatch(/config\.json/);
    const actions = await page.$$eval('#error-actions button', (b) => b.map((x) => x.textContent));
    expect(actions).toContain('Choose another model');
    await page.click('#error-actions button:last-child'); // Dismiss
    expect(await page.$eval('#error-banner', (e) => (e as HTMLElement).hidden)).toBe(true);
    await page.click('input[name=source][value=builtin]');
  });

  it('loads the built-in tiny model with a progress bar and measured = predicted memory', async () => {
    await page.click('#load');
    await state('loading');
    expect(await page.$eval('#cancel-load', (e) => (e as HTMLElement).hidden)).toBe(false);
    await state('ready');
    expect(await text('#model-status')).toMatch(/^Loaded .*tiny-dense \(f32, context 256\)/);
    expect(await text('#progress-text')).toMatch(/100% · [\d.]+ MiB \/ [\d.]+ MiB/);
    expect(await page.$eval('#progress-fill', (e) => (e as HTMLElement).style.width)).toBe('100%');
    const rows = await page.$$eval('#memory-bars .memory-row .numbers', (n) => n.map((x) => x.textContent ?? ''));
    expect(rows).toHaveLength(6);
    for (const row of rows) expect(row).toMatch(/^\S+ \S+ \/ \S+ \S+ \(\+0\.0%\)$/);
    expect(await page.$$eval('#memory-plot g.series[data-series="measured total"] circle', (c) => c.length)).toBe(1);
    await page.click('#memory-plot');
    expect(await page.$eval('#plot-dialog', (d) => (d as HTMLDialogElement).open)).toBe(true);
    expect(await page.$$eval('#plot-dialog g.series[data-series="measured total"] circle', (c) => c.length)).toBe(1);
    mkdirSync('.test-output', { recursive: true });
    await page.screenshot({ path: '.test-output/demo-plot.png' });
    await page.click('#plot-dialog-close');
    expect(await page.$eval('#plot-dialog', (d) => (d as HTMLDialogElement).open)).toBe(false);
  });

  it('streams a greedy reply equal to the CPU reference, with prefill and decode speed', async () => {
    await setValue('#temperature', '0');
    await page.evaluate(() => {
      const w = window as unknown as { textUpdates: number };
      w.textUpdates = 0;
      new MutationObserver(() => w.textUpdates++).observe(document.getElementById('transcript')!, { subtree: true, characterData: true, childList: true });
    });
    await page.evaluate(() => {
      const w = window as unknown as { memoryUpdates: { label: string; meta: string; rows: string[] }[] };
      w.memoryUpdates = [];
      new MutationObserver(() =>
        w.memoryUpdates.push({
          label: document.getElementById('memory-state')!.textContent ?? '',
          meta: document.querySelector('.message.assistant:last-child .meta')?.textContent ?? '',
          rows: [...document.querySelectorAll('#memory-bars .memory-row .numbers')].map((n) => n.textContent ?? ''),
        }),
      ).observe(document.getElementById('memory-state')!, { childList: true, characterData: true, subtree: true });
    });
    await send('Hello, who are you?', 8);
    // The memory panel was updated from the allocator while the reply streamed (the meta line is not the final stats yet),
    // then once more with the reply.
    const updates = await page.evaluate(() => (window as unknown as { memoryUpdates: { label: string; meta: string; rows: string[] }[] }).memoryUpdates);
    const live = updates.filter((u) => /^measured \(live, token [1-8]\) vs predicted$/.test(u.label));
    expect(live.length).toBeGreaterThan(0);
    for (const u of live) {
      expect(u.meta).toMatch(/^(waiting for the first token…|\d+ tokens…)$/);
      expect(u.rows).toHaveLength(6);
      for (const row of u.rows) expect(row).toMatch(/^\S+ \S+ \/ \S+ \S+ \(\+0\.0%\)$/);
    }
    expect(updates.at(-1)!.label).toBe('measured vs predicted');
    const [user, reply] = await transcript();
    const want = reference.reply([user!], 8, false);
    expect(want.ids.length).toBeGreaterThan(0);
    expect(reply!.content).toBe(want.text);
    expect(await page.evaluate(() => (window as unknown as { textUpdates: number }).textUpdates)).toBeGreaterThan(3);
    const meta = await page.$eval('.message.assistant .meta', (e) => ({ prefill: (e as HTMLElement).dataset.prefill, decode: (e as HTMLElement).dataset.decode, text: e.textContent }));
    expect(Number(meta.prefill)).toBeGreaterThan(0);
    expect(Number(meta.decode)).toBeGreaterThan(0);
    expect(meta.text).toMatch(/prefill [\d.]+ tok\/s .* decode [\d.]+ tok\/s · first token [\d.]+ m?s/);
  });

  it('stops a reply mid-way; the next message continues the conversation exactly', async () => {
    await setValue('#max-tokens', '200');
    await page.type('#prompt', 'Tell me a long story.');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /^([3-9]|\d\d+) tokens…$/.test(document.querySelector('.message.assistant:last-child .meta')?.textContent ?? ''), {
      timeout: 60_000,
    });
    await page.click('#stop');
    await state('ready');
    const stopped = await text('.message.assistant:last-child .meta');
    expect(stopped).toMatch(/^stopped after \d+ tokens$/);
    const stoppedAfter = Number(/\d+/.exec(stopped)![0]);
    expect(stoppedAfter).toBeLessThan(200);
    const story = await transcript();
    expect(story.pop()!.content).toBe(reference.reply(story, stoppedAfter, false).text);

    await send('And then?', 6);
    const messages = await transcript();
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    const last = messages.pop()!;
    const want = reference.reply(messages, 6, false);
    expect(last.content).toBe(want.text);
    const meta = await text('.message.assistant:last-child .meta');
    expect(meta).toMatch(/decode [\d.]+ tok\/s/);
    // The conversation continued from the cache: only the closing of the stopped reply and the new turn were fed
    // (the reference feeds the stopped reply's last token now; the runtime fed it while stopping).
    expect(meta).toContain(`(${want.fed - 1} tokens)`);
    expect(want.fed).toBeLessThan(reference.promptLength(messages, false) / 2);

    await page.screenshot({ path: '.test-output/demo-chat.png' });
  });

  it('starts a new chat and shows a thinking reply as reasoning, equal to the reference', async () => {
    await page.click('#reset');
    await page.waitForFunction(() => document.querySelectorAll('#transcript .message').length === 0);
    await page.click('#thinking');
    await send('Think first.', 6);
    const [user, reply] = await transcript();
    const want = reference.reply([user!], 6, true);
    expect(reply!.content).toBe(want.text);
    const end = want.text.indexOf('</think>');
    const reasoning = end < 0 ? want.text : want.text.slice(0, end + '</think>'.length);
    expect(await text('.message.assistant .thinking')).toBe(reasoning);
    // Chromium logs a 404 for each optional file the loader probes (chat_template.jinja, ...) and for the bad location.
    expect(consoleErrors.filter((e) => !/404 \(Not Found\)/.test(e))).toEqual([]);
  });
});
