import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { modelsPlugin } from './demo/server/models-plugin.js';

const root = fileURLToPath(new URL('.', import.meta.url));

// The demo page lives in demo/; it imports the runtime from src/ and loads WGSL from shaders/.
// models/ is served at /models/ (the tiny default model is generated first if missing).
export default defineConfig({
  root: `${root}demo`,
  publicDir: false,
  plugins: [modelsPlugin()],
  server: { host: '127.0.0.1', fs: { allow: [root] } },
  preview: { host: '127.0.0.1' },
  worker: { format: 'es' },
  // The worker's dependencies, pre-bundled at startup: discovering them on first use makes the
  // dev server reload the page (and kill the worker) in the middle of a model load.
  optimizeDeps: { include: ['@huggingface/tokenizers', '@huggingface/jinja', '@huggingface/hub'] },
  build: { outDir: `${root}dist/demo`, emptyOutDir: true, target: 'es2022' },
});
