/** The parameters form: fields typed by the parameters cell's literal defaults, read back as values (or, in sweep mode, lists of values). */
import { ISweepRequest, sweepRequest } from './sweeps';

export type ParameterKind = 'int' | 'float' | 'bool' | 'str';

export interface IParameterField {
  name: string;
  kind: ParameterKind;
  value: number | boolean | string;
}

/**
 * Fields for the parameters whose defaults are int, float, bool or str literals (others are left out).
 * `types` (the server's Python types) decides int from float: JSON writes `C = 1.0` as 1.
 */
export function parameterFields(
  parameters: Record<string, unknown> | undefined,
  types: Record<string, string> = {}
): IParameterField[] {
  const fields: IParameterField[] = [];
  for (const [name, value] of Object.entries(parameters || {})) {
    const type = types[name];
    if (type !== undefined && !['int', 'float', 'bool', 'str'].includes(type)) {
      continue; // an expression or another type: the form cannot type it
    }
    if (typeof value === 'boolean') {
      fields.push({ name, kind: 'bool', value });
    } else if (typeof value === 'number') {
      const kind = type === 'float' || type === 'int' ? type : Number.isInteger(value) ? 'int' : 'float';
      fields.push({ name, kind, value });
    } else if (typeof value === 'string') {
      fields.push({ name, kind: 'str', value });
    }
  }
  return fields;
}

/**
 * The `NAME = literal` lines of a parameters cell's source as Python reads them: ints, floats,
 * True/False and quoted strings; other lines (expressions, comments) are left out.
 */
export function literalParameters(source: string): Record<string, number | boolean | string> {
  const out: Record<string, number | boolean | string> = {};
  for (const line of source.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*(#.*)?$/.exec(line);
    if (!m) {
      continue;
    }
    const [, name, text] = m;
    const str = /^(['"])(.*)\1$/.exec(text);
    if (str && !str[2].includes(str[1]) && !str[2].includes('\\')) {
      out[name] = str[2];
    } else if (text === 'True' || text === 'False') {
      out[name] = text === 'True';
    } else if (/^[-+]?(\d[\d_]*\.?\d*(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?)$/i.test(text)) {
      out[name] = Number(text.replace(/_/g, ''));
    }
  }
  return out;
}

/** The typed value of a field's text (checkbox state for bool); throws with a message if invalid. */
export function parseField(field: IParameterField, text: string, checked = false): unknown {
  switch (field.kind) {
    case 'bool':
      return checked;
    case 'str':
      return text;
    case 'int': {
      if (!/^[-+]?\d+$/.test(text.trim())) {
        throw new Error(`${field.name} must be a whole number, not '${text}'`);
      }
      return parseInt(text, 10);
    }
    case 'float': {
      const v = Number(text);
      if (text.trim() === '' || Number.isNaN(v)) {
        throw new Error(`${field.name} must be a number, not '${text}'`);
      }
      return v;
    }
  }
}

/** The parameters that differ from their defaults, read from the form's inputs. */
export function changedParameters(
  fields: readonly IParameterField[],
  read: (name: string) => { text: string; checked: boolean }
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const { text, checked } = read(f.name);
    const value = parseField(f, text, checked);
    if (value !== f.value) {
      out[f.name] = value;
    }
  }
  return out;
}

/** What the form does with its values: run once, or (sweep mode) start a sweep; errors go to `onInvalid`. */
export interface IParametersFormActions {
  onRun: (params: Record<string, unknown>) => void;
  onSweep: (request: ISweepRequest) => void;
  onInvalid: (message: string) => void;
  /** The sweep checkbox was toggled (the panel keeps the mode across redraws). */
  onSweepMode?: (on: boolean) => void;
}

/** Sweep mode: every field is a text of comma-separated values (a bool's "true, false"). */
function setSweepMode(form: HTMLFormElement, fields: readonly IParameterField[], on: boolean): void {
  for (const f of fields) {
    const input = form.elements.namedItem(f.name) as HTMLInputElement;
    if (f.kind === 'bool') {
      const checked = on ? input.checked : /^\s*true\s*$/i.test(input.value);
      input.type = on ? 'text' : 'checkbox';
      input.value = on ? String(checked) : 'on';
      input.checked = checked;
    } else if (f.kind !== 'str') {
      input.type = on ? 'text' : 'number';
    }
    input.placeholder = on ? 'values, comma-separated' : '';
  }
  const button = form.querySelector('button[type="submit"]') as HTMLButtonElement;
  button.dataset.action = on ? 'run-sweep' : 'run-params';
  button.textContent = on ? 'Run sweep' : 'Run with these parameters';
  form.dataset.mode = on ? 'sweep' : 'run';
}

function fieldInput(f: IParameterField): HTMLLabelElement {
  const label = document.createElement('label');
  label.textContent = `${f.name} `;
  const input = document.createElement('input');
  input.name = f.name;
  input.dataset.kind = f.kind;
  if (f.kind === 'bool') {
    input.type = 'checkbox';
    input.checked = f.value as boolean;
  } else {
    input.type = f.kind === 'str' ? 'text' : 'number';
    input.step = f.kind === 'int' ? '1' : 'any';
    input.value = String(f.value);
  }
  label.appendChild(input);
  return label;
}

/** Draw the form (in sweep mode if `sweep`): a field per parameter, a sweep checkbox, a run button. */
export function drawParametersForm(
  fields: readonly IParameterField[],
  actions: IParametersFormActions,
  sweep = false
): HTMLFormElement {
  const form = document.createElement('form');
  form.className = 'jp-mlpipe-params-form';
  const mode = document.createElement('label');
  mode.className = 'jp-mlpipe-sweep-mode';
  mode.title = 'Run every combination of several comma-separated values per parameter';
  const toggle = document.createElement('input');
  toggle.type = 'checkbox';
  toggle.dataset.action = 'sweep-mode';
  mode.append(toggle, ' sweep: several values per parameter');
  form.appendChild(mode);
  fields.forEach(f => form.appendChild(fieldInput(f)));
  const button = document.createElement('button');
  button.type = 'submit';
  button.className = 'jp-Button jp-mod-styled jp-mod-accept';
  form.appendChild(button);
  toggle.checked = sweep;
  setSweepMode(form, fields, sweep);
  toggle.addEventListener('change', () => {
    setSweepMode(form, fields, toggle.checked);
    actions.onSweepMode?.(toggle.checked);
  });
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const input = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
    try {
      if (toggle.checked) {
        actions.onSweep(sweepRequest(fields, name => input(name).value));
      } else {
        actions.onRun(
          changedParameters(fields, name => ({ text: input(name).value, checked: input(name).checked }))
        );
      }
    } catch (err) {
      actions.onInvalid((err as Error).message);
    }
  });
  return form;
}
