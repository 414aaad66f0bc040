/** Tiny DOM helpers for the view's HTML parts. */

export function h(
  tag: string,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** A button-like link: looks like a link, works with the keyboard. */
export function link(text: string, action: string, onClick: () => void): HTMLAnchorElement {
  const a = h(
    'a',
    { href: '#', class: 'jp-mlpipe-link', 'data-action': action },
    text
  ) as HTMLAnchorElement;
  a.addEventListener('click', ev => {
    ev.preventDefault();
    onClick();
  });
  return a;
}

export function simpleTable(
  head: string[],
  rows: (string | Node)[][],
  cls: string
): HTMLTableElement {
  const t = h('table', { class: `jp-mlpipe-table ${cls}` }) as HTMLTableElement;
  const tr = t.createTHead().insertRow();
  head.forEach(x => tr.appendChild(h('th', {}, x)));
  const body = t.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    row.forEach(c => r.insertCell().append(c));
  }
  return t;
}
