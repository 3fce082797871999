/**
 * Browser test harness: serves the demo folder with Vite on 127.0.0.1 — the dev server, or the
 * production build (`vite build` into a temp folder + `vite preview`) — and drives headless
 * Debian Chromium (puppeteer-core) on SwiftShader, with the flags from
 * ../shared/docs/webgpu-without-gpu.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { build, createServer, preview } from 'vite';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  // As src/gpu/device.ts does for Node: zero-initialise workgroup memory in the shader, not with
  // the Vulkan extension, which SwiftShader compiles very slowly (same WebGPU semantics).
  '--disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension',
];

/** A browser without WebGPU (to test what pages do then). */
const NO_WEBGPU_FLAGS = ['--disable-features=WebGPU'];

const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
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

const CONFIG_FILE = new URL('../vite.config.ts', import.meta.url).pathname;

interface RunningServer {
  port: number;
  close(): Promise<void>;
}

function portOf(address: string | AddressInfo | null | undefined): number {
  if (!address || typeof address === 'string') throw new Error('vite server has no TCP address');
  return address.port;
}

async function startDevServer(): Promise<RunningServer> {
  const server = await createServer({
    configFile: CONFIG_FILE,
    // No file watching or HMR: other work in the tree must not reload the page under a test.
    server: { port: 0, host: '127.0.0.1', strictPort: false, watch: null, hmr: false },
    logLevel: 'error',
  });
  await server.listen();
  return { port: portOf(server.httpServer?.address()), close: () => server.close() };
}

/** `vite build` into a temp folder, served by `vite preview` (deleted on close). */
async function startBuiltServer(): Promise<RunningServer> {
  const outDir = mkdtempSync(join(tmpdir(), 'qwen35-demo-build-'));
  try {
    await build({ configFile: CONFIG_FILE, logLevel: 'error', build: { outDir, emptyOutDir: true } });
    const server = await preview({ configFile: CONFIG_FILE, logLevel: 'error', build: { outDir }, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
    return {
      port: portOf(server.httpServer.address()),
      close: async () => {
        await server.close();
        rmSync(outDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
}

/** `built`: serve the production build instead of the dev server; `webgpu: false`: a browser without WebGPU. */
export async function startBrowser(options: { built?: boolean; webgpu?: boolean } = {}): Promise<BrowserSession> {
  const server = options.built ? await startBuiltServer() : await startDevServer();
  const baseUrl = `http://127.0.0.1:${server.port}/`;
  const userDataDir = mkdtempSync(join(tmpdir(), 'qwen35-chromium-'));
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_FLAGS, ...(options.webgpu === false ? NO_WEBGPU_FLAGS : WEBGPU_FLAGS), `--user-data-dir=${userDataDir}`],
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
