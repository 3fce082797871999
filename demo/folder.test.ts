/**
 * The demo page loading a checkpoint from a local folder, both ways "Choose folder…" can go:
 * - the <input type=file webkitdirectory> path (browsers without a directory picker: Firefox,
 *   Safari). Puppeteer gives the input the tiny model's folder, as a user picking it would;
 * - the directory picker (Chromium). Its dialog cannot be driven headless, so the page's
 *   showDirectoryPicker hands back a real FileSystemDirectoryHandle: a folder of the page's
 *   origin-private file system holding the tiny model's files (the handle the worker then reads
 *   is the same kind of object a user's pick gives).
 * Either way the page reads the files in place (no server request for them), loads, and a greedy
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

/** Sends `prompt` with greedy sampling; the reply must be the CPU reference's. */
async function expectReferenceReply(prompt: string): Promise<void> {
  await act.setValue('#temperature', '0');
  await act.setValue('#max-tokens', '8');
  await page.type('#prompt', prompt);
  await page.keyboard.press('Enter');
  await act.state('generating');
  await act.state('ready');
  const want = reference.reply([{ role: 'user', content: prompt }], 8, false);
  expect(want.ids.length).toBeGreaterThan(0);
  expect(await act.text('.message.assistant .body')).toBe(want.text);
}

/** The load settings both tests use: f32 weights and KV (exact against the reference), context 128. */
async function chooseFolderSourceExactly(): Promise<void> {
  await page.click('input[name=source][value=folder]');
  await page.select('#weight-format', 'f32');
  await page.select('#kv-format', 'f32');
  await act.setValue('#max-context', '128');
}

describe('demo page with a local folder', () => {
  beforeAll(async () => {
    folder = await ensureDefaultModel();
    reference = await ReferenceChat.load(folder);
    session = await startBrowser();
    ({ page, consoleErrors } = await session.open('index.html'));
    page.on('request', (r: HTTPRequest) => void (r.url().includes('/models/') && modelRequests.push(r.url())));
    await act.state('no-model');
  });
  afterAll(async () => session?.close());

  it('webkitdirectory input: takes the picked folder, loads it from the files, and replies as the CPU reference', async () => {
    await chooseFolderSourceExactly();
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

    await expectReferenceReply('Hello from a folder');
    expect(consoleErrors).toEqual([]);
  });

  it('directory picker: loads from the FileSystemDirectoryHandle it returns, and replies as the CPU reference', async () => {
    const name = `picked-${basename(folder)}`;
    // The tiny model's files into an OPFS folder (through the dev server's copy, before the load).
    await page.evaluate(async (model: string, dirName: string, names: string[]) => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(dirName, { create: true });
      for (const n of names) {
        const bytes = await (await fetch(`/models/${model}/${n}`)).arrayBuffer();
        const w = await (await dir.getFileHandle(n, { create: true })).createWritable();
        await w.write(bytes);
        await w.close();
      }
    }, basename(folder), name, readdirSync(folder));
    await page.reload(); // a fresh page: no model, no messages
    await act.state('no-model');
    await page.evaluate(async (dirName: string) => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(dirName);
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () => dir;
    }, name);
    await chooseFolderSourceExactly();
    modelRequests.length = 0;
    await page.click('#pick-directory');
    expect(await act.text('#picked')).toBe(`Chosen: folder “${name}”`);
    await page.click('#load');
    await act.state('loading');
    await act.state('ready');
    const loaded = `Loaded folder "${name}" (f32, context 128) in `;
    expect((await act.text('#model-status')).slice(0, loaded.length)).toBe(loaded);
    expect(modelRequests).toEqual([]);
    await expectReferenceReply('Hello from a handle');
    expect(consoleErrors).toEqual([]);
  });
});
