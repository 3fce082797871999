import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// The demo page lives in demo/; it imports the runtime from src/ and loads WGSL from shaders/.
export default defineConfig({
  root: `${root}demo`,
  publicDir: false,
  server: { host: '127.0.0.1', fs: { allow: [root] } },
  preview: { host: '127.0.0.1' },
  worker: { format: 'es' },
  build: { outDir: `${root}dist/demo`, emptyOutDir: true, target: 'es2022' },
});
