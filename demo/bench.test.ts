/**
 * The demo's Benchmark button in headless Chromium on SwiftShader: runBenchmark runs in the worker
 * on the loaded tiny model with the quick plan (software adapter) and the panel's overrides
 * (1 run, no warm-up, short prompts, no kernel micro-benchmarks: seconds), shows progress, then the
 * key figures, and offers bench.json / bench.md. The figures shown must be the downloaded JSON's
 * medians (screenshot of the panel: .test-output/demo-bench.png); the JSON must be a browser-made qwen35-bench/1 record with the resolved parameters.
 * Afterwards the chat starts over from a clean cache: a greedy reply equals the CPU reference
 * (f32 weights and KV: exact, see chat.test.ts).
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBenchOptions } from '../src/bench/options.js';
import { SCENARIOS, type BenchResult } from '../src/bench/schema.js';
import { ensureDefaultModel } from '../src/model/tiny.js';
import { startBrowser, type BrowserSession } from './browser.js';
import { pageActions } from './page-actions.js';
import { ReferenceChat } from './reference-chat.js';
import { formatMs, formatRate } from './ui/format.js';

let session: BrowserSession;
let page: Page;
let consoleErrors: string[];
const act = pageActions(() => page);

/** The text behind a download link (a blob: URL of the page). */
const downloaded = (name: string) => page.$eval(`#bench-result a[download="${name}"]`, async (a) => (await fetch((a as HTMLAnchorElement).href)).text());

describe('demo page: Benchmark button', () => {
  let reference: ReferenceChat;

  beforeAll(async () => {
    reference = await ReferenceChat.load(await ensureDefaultModel());
    session = await startBrowser();
    ({ page, consoleErrors } = await session.open('index.html'));
    await act.state('no-model');
    expect(await page.$eval('#bench', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    await page.select('#weight-format', 'f32');
    await page.select('#kv-format', 'f32');
    await act.setValue('#max-context', '256');
    await page.click('#load');
    await act.state('loading');
    await act.state('ready');
  });
  afterAll(async () => session?.close());

  it('runs the quick plan in the worker, shows progress and real figures, and offers the JSON', async () => {
    await act.setValue('#bench-reps', '1');
    await act.setValue('#bench-warmup', '0');
    await act.setValue('#bench-prompts', '8, 24');
    await act.setValue('#bench-contexts', '0');
    await act.setValue('#bench-steps', '4');
    expect(await page.$eval('#bench-kernels', (c) => (c as HTMLInputElement).checked)).toBe(false);
    await page.evaluate(() => {
      const w = window as unknown as { benchStatus: string[] };
      w.benchStatus = [];
      const status = document.getElementById('bench-status')!;
      new MutationObserver(() => w.benchStatus.push(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#bench');
    await act.state('benchmarking');
    expect(await page.$eval('#cancel-bench', (b) => (b as HTMLElement).hidden)).toBe(false);
    await act.state('ready');
    const status = await page.evaluate(() => (window as unknown as { benchStatus: string[] }).benchStatus);
    for (const scenario of ['bandwidth', 'prefill', 'decode', 'profile', 'gdn']) expect(status.some((s) => s.includes(` · ${scenario}: `))).toBe(true);
    expect(await act.text('#bench-status')).toMatch(/^Done in [\d.]+ m?s\.$/);

    const json = JSON.parse(await downloaded('bench.json')) as BenchResult;
    expect(json.schema).toBe('qwen35-bench/1');
    expect(json.environment.adapter).toMatchObject({ kind: 'software', isSoftware: true });
    expect(json.environment.runtime.kind).toBe('browser');
    expect(json.environment.runtime.version).toMatch(/Chrome\//);
    const plan = { quick: true, repetitions: 1, warmup: 0, prefillLengths: [8, 24], decodeContexts: [0], decodeTokens: 4 };
    expect(json.parameters).toEqual(resolveBenchOptions({ ...plan, scenarios: SCENARIOS.filter((s) => s !== 'kernels') }));
    const m = json.models[0]!;
    expect(m.parameters).toMatchObject({ formatLabel: 'f32', kvFormat: 'f32', maxContext: 256 });
    expect(m.prefill.map((p) => p.promptTokens)).toEqual([8, 24]);
    expect(m.decode.map((d) => [d.context, d.tokens])).toEqual([[0, 4]]);
    for (const p of m.prefill) expect(p.tokensPerSecond.median).toBeGreaterThan(0);
    expect(m.decode[0]!.tokensPerSecond.median).toBeGreaterThan(0);
    expect(m.decode[0]!.percentOfProbe).toBeGreaterThan(0);
    expect(json.adapter.bandwidth!.gbps).toBeGreaterThan(0);
    expect(m.gdnPrefill!.speedup.median).toBeGreaterThan(0);

    // The page shows exactly the JSON's medians, and says the adapter is software.
    expect(await page.$eval('#bench-result [data-adapter-kind]', (e) => (e as HTMLElement).dataset.adapterKind)).toBe('software');
    expect(await act.text('#bench-result')).toMatch(/software adapter — CPU numbers, not GPU speed · quick plan \(software adapter\)/);
    const rows = await page.$$eval('#bench-result .bench-figures tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
    expect(rows).toEqual([
      ...m.prefill.map((p) => [`prefill ${p.promptTokens} tokens`, formatRate(p.tokensPerSecond.median), `first token ${formatMs(p.timeToFirstTokenMs.median)}`]),
      [`decode 4 after 0`, formatRate(m.decode[0]!.tokensPerSecond.median), `${m.decode[0]!.effectiveGBps.toPrecision(3)} GB/s · ${m.decode[0]!.percentOfProbe!.toFixed(1)}% of probe`],
    ]);
    const markdown = await downloaded('bench.md');
    expect(markdown).toMatch(/^# Qwen3\.5 WebGPU benchmark\n/);
    expect(markdown).toContain('**software (CPU), not GPU speed**');
    // One decode context: the roofline bars (effective GB/s beside the probe) rather than a one-point line.
    expect(await page.$eval('#bench-result .bench-plot svg', (s) => s.querySelector('title')?.textContent)).toMatch(/^Roofline: /);
    mkdirSync('.test-output', { recursive: true });
    await (await page.$('#bench-panel'))!.screenshot({ path: '.test-output/demo-bench.png' });
  });

  it('starts the chat over: the next greedy reply equals the CPU reference', async () => {
    expect(await act.text('#transcript')).toContain('the chat starts over');
    await act.setValue('#temperature', '0');
    await act.setValue('#max-tokens', '6');
    await page.type('#prompt', 'Hello after the benchmark');
    await page.keyboard.press('Enter');
    await act.state('generating');
    await act.state('ready');
    const reply = await act.text('.message.assistant .body');
    expect(reply).toBe(reference.reply([{ role: 'user', content: 'Hello after the benchmark' }], 6, false).text);
    expect(consoleErrors.filter((e) => !/404 \(Not Found\)/.test(e))).toEqual([]);
  });
});
