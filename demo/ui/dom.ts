/** Small DOM helpers for the demo page: typed element lookup and element creation. */

/** The element with this id; throws if the page does not have it (a broken index.html). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo page: no element #${id}`);
  return el as T;
}

type Child = Node | string | undefined | false;

/** `el('p', {className: 'x'}, 'text', child)`: an element with properties and children. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) if (c !== undefined && c !== false) node.append(c);
  return node;
}

/** The number in an <input>, or `fallback` when it is empty or not a number. */
export function numberValue(input: HTMLInputElement, fallback: number): number {
  const v = input.valueAsNumber;
  return Number.isFinite(v) ? v : fallback;
}
