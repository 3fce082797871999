/**
 * Compute pipelines cached by (shader, defines, override constants, entry point).
 * Shader modules are cached by their preprocessed text, so variants sharing a source
 * compile once. Compilation errors become ShaderError with the WGSL line.
 */
import { ShaderError } from '../errors.js';
import type { GpuContext } from './device.js';
import { buildShader, type Defines } from './shaders.js';

export interface PipelineKey {
  shader: string;
  entryPoint?: string;
  defines?: Defines;
  constants?: Record<string, number>;
}

function stableJson(o: Record<string, unknown> | undefined): string {
  if (!o) return '';
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
}

export class PipelineCache {
  private readonly modules = new Map<string, Promise<GPUShaderModule>>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();

  constructor(readonly gpu: GpuContext) {}

  /** Defines every shader sees: which optional features the device has. */
  private deviceDefines(): Defines {
    const f = this.gpu.features;
    return { HAS_F16: f.f16, HAS_SUBGROUPS: f.subgroups };
  }

  get(key: PipelineKey): Promise<GPUComputePipeline> {
    const defines = { ...this.deviceDefines(), ...key.defines };
    const entryPoint = key.entryPoint ?? 'main';
    const id = `${key.shader}|${entryPoint}|${stableJson(defines)}|${stableJson(key.constants)}`;
    let p = this.pipelines.get(id);
    if (!p) {
      p = this.create(key.shader, defines, entryPoint, key.constants);
      p.catch(() => this.pipelines.delete(id));
      this.pipelines.set(id, p);
    }
    return p;
  }

  private async module(shader: string, defines: Defines): Promise<GPUShaderModule> {
    const code = await buildShader(shader, defines);
    let p = this.modules.get(code);
    if (!p) {
      p = this.compile(shader, code);
      p.catch(() => this.modules.delete(code));
      this.modules.set(code, p);
    }
    return p;
  }

  private async compile(shader: string, code: string): Promise<GPUShaderModule> {
    const device = this.gpu.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: shader, code });
    const info = await module.getCompilationInfo();
    const scopeError = await device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length || scopeError) {
      const lines = code.split('\n');
      const detail = errors
        .map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}\n    ${lines[m.lineNum - 1]?.trim() ?? ''}`)
        .join('\n');
      throw new ShaderError(`WGSL compilation of "${shader}" failed:\n${detail || scopeError?.message}`);
    }
    return module;
  }

  private async create(
    shader: string,
    defines: Defines,
    entryPoint: string,
    constants: Record<string, number> | undefined,
  ): Promise<GPUComputePipeline> {
    const module = await this.module(shader, defines);
    try {
      return await this.gpu.device.createComputePipelineAsync({
        label: `${shader}:${entryPoint}`,
        layout: 'auto',
        compute: { module, entryPoint, ...(constants ? { constants } : {}) },
      });
    } catch (e) {
      throw new ShaderError(`building pipeline "${shader}:${entryPoint}" failed: ${(e as Error).message}`, { cause: e });
    }
  }
}
