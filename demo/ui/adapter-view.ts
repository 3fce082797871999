/** The adapter the worker got: a one-line summary in the header and the details panel. */
import type { AdapterView } from '../protocol.js';
import { byId, el } from './dom.js';
import { formatBytes } from './format.js';

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

export function showAdapter(a: AdapterView | undefined, problem?: string): void {
  const line = byId('adapter-line');
  if (!a) {
    line.textContent = problem ?? 'No WebGPU adapter';
    byId('adapter-details').replaceChildren(el('dt', { textContent: 'Status' }), el('dd', { textContent: problem ?? 'none' }));
    return;
  }
  line.textContent = `${a.name}${a.isSoftware ? ' (software: CPU speed, not GPU speed)' : ''}`;
  const rows: [string, string][] = [
    ['Adapter', a.name],
    ['Kind', a.isSoftware ? 'software (CPU)' : 'hardware'],
    ['shader-f16', yesNo(a.f16)],
    ['Subgroups', a.subgroups ? `yes (size ${a.subgroupSizes})` : 'no'],
    ['Timestamps', yesNo(a.timestamps)],
    ['maxBufferSize', formatBytes(a.limits.maxBufferSize)],
    ['maxStorageBufferBindingSize', formatBytes(a.limits.maxStorageBufferBindingSize)],
    ['Workgroup storage', formatBytes(a.limits.maxComputeWorkgroupStorageSize)],
    ['Storage buffers / stage', String(a.limits.maxStorageBuffersPerShaderStage)],
  ];
  byId('adapter-details').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
}
