/** Draw an output's preview (store/previews.py): a DataFrame's head as a table with its shape and dtypes, an array's shape/dtype/summary, a scalar. */
import { IPreview } from './client';
import { h, simpleTable } from './dom';
import { formatBytes, formatValue } from './format';

function shapeText(shape: number[] | undefined): string {
  return shape ? shape.map(n => n.toLocaleString('en-US')).join(' × ') : '';
}

/** One line: "DataFrame · 1,000 × 2", "ndarray float32 · 3 × 4 · 48 B", "int = 7". */
export function previewSummary(p: IPreview): string {
  const type = p.type.split('.').pop()!;
  switch (p.kind) {
    case 'dataframe':
      return `${type} · ${shapeText(p.shape)} (rows × columns)`;
    case 'series':
      return `${type} ${p.dtype} · ${shapeText(p.shape)}`;
    case 'array':
      return `${type} ${p.dtype} · ${shapeText(p.shape)} · ${formatBytes(p.nbytes ?? 0)}`;
    case 'scalar':
      return `${type} = ${formatValue(p.value)}`;
    default:
      return (
        `${type}` +
        (p.length != null ? ` · ${p.length.toLocaleString('en-US')} items` : '') +
        (p.shape ? ` · ${shapeText(p.shape)}` : '')
      );
  }
}

function cell(v: unknown): string {
  return formatValue(v);
}

export function drawPreview(name: string, p: IPreview | null): HTMLElement {
  const box = h('div', { class: 'jp-mlpipe-output', 'data-output': name });
  const head = h('div', { class: 'jp-mlpipe-output-head' }, h('b', {}, name));
  box.appendChild(head);
  if (!p) {
    head.append(
      ' ',
      h('span', { class: 'jp-mlpipe-muted' }, 'no preview (stored before previews existed)')
    );
    return box;
  }
  box.dataset.kind = p.kind;
  head.append(' ', h('span', { class: 'jp-mlpipe-output-type' }, previewSummary(p)));
  if (p.error) {
    box.appendChild(h('div', { class: 'jp-mlpipe-muted' }, p.error));
  }
  if (p.kind === 'dataframe' && p.columns && Array.isArray(p.head)) {
    const rows = (p.head as unknown[][]).map((r, i) => [cell(p.index?.[i]), ...r.map(cell)]);
    const dtypes = ['dtype', ...p.columns.map(c => p.dtypes?.[c] ?? '')];
    const table = simpleTable(['', ...p.columns], [], 'jp-mlpipe-preview-table');
    const types = table.tBodies[0].insertRow();
    types.className = 'jp-mlpipe-dtypes';
    dtypes.forEach(d => types.insertCell().append(d));
    for (const r of rows) {
      const tr = table.tBodies[0].insertRow();
      r.forEach(c => tr.insertCell().append(c));
    }
    box.appendChild(h('div', { class: 'jp-mlpipe-preview-scroll' }, table));
    const shown = p.head.length;
    const more = (p.shape?.[0] ?? shown) - shown;
    if (more > 0 || p.more_columns) {
      box.appendChild(
        h(
          'div',
          { class: 'jp-mlpipe-muted' },
          `first ${shown} rows` +
            (more > 0 ? ` of ${p.shape![0].toLocaleString('en-US')}` : '') +
            (p.more_columns ? `; ${p.more_columns} more columns not shown` : '')
        )
      );
    }
  } else if (p.kind === 'series' && Array.isArray(p.head)) {
    box.appendChild(
      simpleTable(
        ['', String(p.name ?? '')],
        (p.head as unknown[]).map((v, i) => [cell(p.index?.[i]), cell(v)]),
        'jp-mlpipe-preview-table'
      )
    );
  } else if (p.kind === 'array') {
    if (p.summary) {
      const s = p.summary;
      box.appendChild(
        simpleTable(
          ['min', 'max', 'mean', 'std'],
          [[cell(s.min), cell(s.max), cell(s.mean), cell(s.std)]],
          'jp-mlpipe-summary-table'
        )
      );
      if (s.sampled) {
        const how = s.every
          ? `every ${s.every.toLocaleString('en-US')}th value`
          : 'the first values';
        box.appendChild(
          h(
            'div',
            { class: 'jp-mlpipe-muted' },
            `summary of ${s.sampled.toLocaleString('en-US')} values (${how})`
          )
        );
      }
    }
    if (Array.isArray(p.head) && p.head.length) {
      box.appendChild(
        h(
          'div',
          { class: 'jp-mlpipe-code' },
          `first values: ${(p.head as unknown[]).map(cell).join(', ')}`
        )
      );
    }
  } else if (p.kind === 'object' && p.repr) {
    box.appendChild(h('div', { class: 'jp-mlpipe-code' }, p.repr));
  }
  return box;
}
