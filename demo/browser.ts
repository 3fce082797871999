/**
 * Browser test harness: serves the demo folder with Vite on 127.0.0.1 and drives headless
 * Debian Chromium (puppeteer-core) on SwiftShader, with the flags from
 * ../shared/docs/webgpu-without-gpu.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { createServer, type ViteDevServer } from 'vite';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  // As src/gpu/device.ts does for Node: zero-initialise workgroup memory in the shader, not with
  // the Vulkan extension, which SwiftShader compiles very slowly (same WebGPU semantics).
  '--disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

export interface BrowserSession {
  baseUrl: string;
  browser: Browser;
  /** Opens a page of the demo folder (path relative to demo/), collecting console errors. */
  open(path: string): Promise<{ page: Page; consoleErrors: string[] }>;
  close(): Promise<void>;
}

export async function startBrowser(): Promise<BrowserSession> {
  const server: ViteDevServer = await createServer({
    configFile: new URL('../vite.config.ts', import.meta.url).pathname,
    // No file watching or HMR: other work in the tree must not reload the page under a test.
    server: { port: 0, host: '127.0.0.1', strictPort: false, watch: null, hmr: false },
    logLevel: 'error',
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite server has no TCP address');
  const baseUrl = `http://127.0.0.1:${address.port}/`;
  const userDataDir = mkdtempSync(join(tmpdir(), 'qwen35-chromium-'));
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_FLAGS, `--user-data-dir=${userDataDir}`],
      protocolTimeout: 300_000,
    });
  } catch (e) {
    await server.close();
    throw e;
  }
  return {
    baseUrl,
    browser,
    async open(path) {
      const page = await browser.newPage();
      const consoleErrors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
      page.on('pageerror', (e) => consoleErrors.push(String(e)));
      await page.goto(new URL(path, baseUrl).href, { waitUntil: 'load' });
      return { page, consoleErrors };
    },
    async close() {
      await browser.close().catch(() => undefined);
      await server.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
