/**
 * A small strict XML parser for tests that check the SVG writer's output (svg.ts): every tag
 * closed in order, attributes quoted and unique, only the five predefined entities, one root.
 * No DTD, comments or CDATA (the writer emits none).
 */
export interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&([a-z]+);|&/g, (m, name: string | undefined) => {
    if (name === undefined || !(name in ENTITY)) throw new Error(`bad entity near "${m}"`);
    return ENTITY[name]!;
  });
}

/** Parses a standalone XML document (no DTD, no comments, no CDATA); throws on anything malformed. */
export function parseXml(xml: string): XmlNode {
  const root: XmlNode = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlNode[] = [root];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    if (text.includes('>')) throw new Error(`stray ">" in text at ${i}`);
    stack[stack.length - 1]!.text += decode(text);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 40)}`);
    const [, closing, name, attrText, selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
    } else {
      const attrs: Record<string, string> = {};
      for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
        if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
        attrs[a[1]!] = decode(a[2]!);
      }
      const node: XmlNode = { name: name!, attrs, children: [], text: '' };
      stack[stack.length - 1]!.children.push(node);
      if (!selfClosing) stack.push(node);
    }
    i = tag.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1 || root.text.trim() !== '') throw new Error('expected exactly one root element');
  return root.children[0]!;
}

export const findAll = (node: XmlNode, pred: (n: XmlNode) => boolean): XmlNode[] => [
  ...(pred(node) ? [node] : []),
  ...node.children.flatMap((c) => findAll(c, pred)),
];

/** The `<g class="series">` groups the SVG writer emits, in order. */
export const seriesGroups = (svg: XmlNode) => findAll(svg, (n) => n.name === 'g' && n.attrs.class === 'series');

/** Points of a path written by the SVG writer: "M1 2 L3 4" → [[1,2],[3,4]] */
export const pathPoints = (d: string): number[][] => d.split(/\s*[ML]\s*/).filter(Boolean).map((p) => p.split(' ').map(Number));
