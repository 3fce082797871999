/** `qwen35 info`: which WebGPU adapter the runtime picks here, with its features and limits. */
import { acquireGpu, describeGpu } from '../gpu/device.js';
import type { Command } from './main.js';

export const command: Command = {
  summary: 'Print the WebGPU adapter the runtime would use, its features and limits.',
  usage: 'qwen35 info [--software]',
  async run(args) {
    const gpu = await acquireGpu({ forceSoftware: args.includes('--software') });
    console.log(describeGpu(gpu));
    gpu.destroy();
    return 0;
  },
};
