/**
 * One way to get a GPUDevice, in the browser (navigator.gpu) and in Node (Dawn from the
 * `webgpu` package). Requests the adapter's maximum buffer/binding/workgroup limits and the
 * optional features the runtime can use (shader-f16, subgroups, timestamp-query).
 */
import { GpuUnavailableError } from '../errors.js';

/** Optional features the kernels know how to use; each has a fallback path. */
export type OptionalFeature = 'shader-f16' | 'subgroups' | 'timestamp-query';
const OPTIONAL_FEATURES: OptionalFeature[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** Limits raised to the adapter's maximum (the WebGPU defaults are far too small for LLM weights). */
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface AdapterSummary {
  /** Human-readable name: vendor, architecture, device/description. */
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  /** True for CPU implementations (SwiftShader): fine for correctness, never quote their speed as GPU speed. */
  isSoftware: boolean;
  runtime: 'browser' | 'node';
}

export interface GpuFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterSummary;
  features: GpuFeatures;
  limits: GPUSupportedLimits;
  /** Resolves when the device is lost (destroyed, driver reset, ...). */
  lost: Promise<GPUDeviceLostInfo>;
  /** Destroys the device. */
  destroy(): void;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Features to leave off even when the adapter has them (to test fallback paths). */
  disable?: OptionalFeature[];
  /** Skip hardware adapters and use the software (fallback) adapter. */
  forceSoftware?: boolean;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** Dawn's GPU object in Node, created once per process. */
let nodeGpu: GPU | undefined;

async function getNodeGpu(): Promise<GPU> {
  if (nodeGpu) return nodeGpu;
  // Add SwiftShader to the Vulkan loader's drivers (hardware drivers stay visible) before Dawn
  // creates its Vulkan instance; the loader reads these variables at instance creation.
  const env = process.env;
  if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && !env.VK_ADD_DRIVER_FILES) {
    const { existsSync } = await import('node:fs');
    if (existsSync(SWIFTSHADER_ICD)) env.VK_ADD_DRIVER_FILES = SWIFTSHADER_ICD;
  }
  const moduleName = 'webgpu';
  const dawn = (await import(/* @vite-ignore */ moduleName)) as {
    create(flags: string[]): GPU;
    globals: Record<string, unknown>;
  };
  for (const [key, value] of Object.entries(dawn.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  // Zero-initialise workgroup memory with Tint's in-shader loop rather than the Vulkan
  // extension: same WebGPU semantics, but SwiftShader compiles the extension's initialiser
  // fully unrolled (~1 ms of pipeline build per 4 bytes: 4 s for a 16 KiB matmul tile).
  // Timestamp queries at full resolution (Dawn quantizes them like browsers by default, to
  // ~33 µs on an H100, which hides every decode kernel from the per-kernel profile).
  nodeGpu = dawn.create(['disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension,timestamp_quantization']);
  return nodeGpu;
}

function summarize(adapter: GPUAdapter, runtime: 'browser' | 'node'): AdapterSummary {
  const info = adapter.info;
  const description = info.description || info.device || '';
  const isSoftware =
    (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe|software|warp/i.test(`${info.vendor} ${info.architecture} ${description}`);
  const name = [info.vendor, info.architecture, description].filter((s) => s).join(' / ') || 'unknown adapter';
  return { name, vendor: info.vendor, architecture: info.architecture, description, isSoftware, runtime };
}

async function requestAdapter(gpu: GPU, options: AcquireOptions): Promise<GPUAdapter | null> {
  if (!options.forceSoftware) {
    const hardware = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
    if (hardware) return hardware;
  }
  return gpu.requestAdapter({ forceFallbackAdapter: true });
}

function noAdapterMessage(): string {
  return isNode
    ? 'No WebGPU adapter found. Dawn (the `webgpu` package) needs a Vulkan loader and driver: install ' +
        '`libvulkan1` and a GPU driver, or Debian `chromium` for its SwiftShader CPU driver ' +
        `(${SWIFTSHADER_ICD}); e.g. \`apt-get install -y libvulkan1 chromium\`.`
    : 'No WebGPU adapter available in this browser. Use a browser with WebGPU enabled (Chrome/Edge 113+, ' +
        'Safari 26+, Firefox 141+ on Windows), served over https or localhost.';
}

/** Acquires a device with raised limits and every optional feature the adapter has (minus `disable`). */
export async function acquireGpu(options: AcquireOptions = {}): Promise<GpuContext> {
  let gpu: GPU | undefined;
  if (isNode) gpu = await getNodeGpu();
  else gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) throw new GpuUnavailableError(noAdapterMessage());

  const adapter = await requestAdapter(gpu, options);
  if (!adapter) throw new GpuUnavailableError(noAdapterMessage());

  const disabled = new Set(options.disable ?? []);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const key of RAISED_LIMITS) requiredLimits[key] = adapter.limits[key];

  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'qwen35' });
  const limits = device.limits as GPUSupportedLimits & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const adapterInfo = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const has = (f: OptionalFeature): boolean => device.features.has(f);
  return {
    device,
    adapter: summarize(adapter, isNode ? 'node' : 'browser'),
    features: {
      f16: has('shader-f16'),
      subgroups: has('subgroups'),
      timestamps: has('timestamp-query'),
      subgroupMinSize: adapterInfo.subgroupMinSize ?? limits.subgroupMinSize ?? 0,
      subgroupMaxSize: adapterInfo.subgroupMaxSize ?? limits.subgroupMaxSize ?? 0,
    },
    limits: device.limits,
    lost: device.lost,
    destroy: () => device.destroy(),
  };
}

/** One-line description of the adapter and its features, for logs and benchmark records. */
export function describeGpu(gpu: GpuContext): string {
  const f = gpu.features;
  const feats = [f.f16 && 'shader-f16', f.subgroups && `subgroups(${f.subgroupMinSize}-${f.subgroupMaxSize})`, f.timestamps && 'timestamp-query']
    .filter(Boolean)
    .join(', ');
  const kind = gpu.adapter.isSoftware ? 'software' : 'hardware';
  const mib = (n: number): string => `${Math.round(n / 2 ** 20)} MiB`;
  return (
    `${gpu.adapter.name} [${kind}, ${gpu.adapter.runtime}]; features: ${feats || 'none'}; ` +
    `maxBufferSize ${mib(gpu.limits.maxBufferSize)}, maxStorageBufferBindingSize ${mib(gpu.limits.maxStorageBufferBindingSize)}`
  );
}
