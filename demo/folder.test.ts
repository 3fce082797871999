/**
 * The demo page loading a checkpoint from a local folder through the <input type=file
 * webkitdirectory> path (what "Choose folder…" opens where the browser has no directory picker:
 * Firefox, Safari). Puppeteer gives the input the tiny model's folder, as a user picking it would; the page reads the files in place (no server request for them), loads, and a greedy
 * reply equals the CPU reference exactly (f32 weights and KV, see chat.test.ts).
 */
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import type { ElementHandle, HTTPRequest, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/tiny.js';
import { startBrowser, type BrowserSession } from './browser.js';
import { pageActions } from './page-actions.js';
import { ReferenceChat } from './reference-chat.js';

let session: BrowserSession;
let page: Page;
const act = pageActions(() => page);
let consoleErrors: string[];
let folder: string;
let reference: ReferenceChat;
const modelRequests: string[] = [];

describe('demo page with a local folder (webkitdirectory input)', () => {
  beforeAll(async () => {
    folder = await ensureDefaultModel();
    reference = await ReferenceChat.load(folder);
    session = await startBrowser();
    ({ page, consoleErrors } = await session.open('index.html'));
    page.on('request', (r: HTTPRequest) => void (r.url().includes('/models/') && modelRequests.push(r.url())));
    await act.state('no-model');
  });
  afterAll(async () => session?.close());

  it('takes the picked folder, loads it from the files, and replies as the CPU reference', async () => {
    await page.click('input[name=source][value=folder]');
    await page.select('#weight-format', 'f32');
    await page.select('#kv-format', 'f32');
    await act.setValue('#max-context', '128');
    // Chromium expands a folder path given to a webkitdirectory input into its files, each with
    // webkitRelativePath "<folder>/<name>" — what a user's pick gives the page.
    const input = (await page.$('#pick-files')) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(folder);
    await page.waitForFunction(() => document.getElementById('picked')!.textContent !== 'No folder chosen.', { timeout: 10_000 });
    const files = readdirSync(folder).sort();
    const picked = await input.evaluate((i) => [...(i.files ?? [])].map((f) => f.webkitRelativePath).sort());
    expect(picked).toEqual(files.map((f) => `${basename(folder)}/${f}`));
    expect(await act.text('#picked')).toBe(`Chosen: ${files.length} files`);
    modelRequests.length = 0;
    await page.click('#load');
    await act.state('loading');
    await act.state('ready');
    const loaded = `Loaded picked files (folder ${basename(folder)}) (f32, context 128) in `;
    expect((await act.text('#model-status')).slice(0, loaded.length)).toBe(loaded);
    expect(modelRequests).toEqual([]); // read from the picked files, not the dev server's copy

    await act.setValue('#temperature', '0');
    await act.setValue('#max-tokens', '8');
    await page.type('#prompt', 'Hello from a folder');
    await page.keyboard.press('Enter');
    await act.state('generating');
    await act.state('ready');
    const want = reference.reply([{ role: 'user', content: 'Hello from a folder' }], 8, false);
    expect(want.ids.length).toBeGreaterThan(0);
    expect(await act.text('.message.assistant .body')).toBe(want.text);
    expect(consoleErrors).toEqual([]);
  });
});
