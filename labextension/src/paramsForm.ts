/** The parameters form: fields typed by the parameters cell's literal defaults, read back as values. */

export type ParameterKind = 'int' | 'float' | 'bool' | 'str';

export interface IParameterField {
  name: string;
  kind: ParameterKind;
  value: number | boolean | string;
}

/** Fields for the parameters whose defaults are int, float, bool or str literals (others are left out). */
export function parameterFields(parameters: Record<string, unknown> | undefined): IParameterField[] {
  const fields: IParameterField[] = [];
  for (const [name, value] of Object.entries(parameters || {})) {
    if (typeof value === 'boolean') {
      fields.push({ name, kind: 'bool', value });
    } else if (typeof value === 'number') {
      fields.push({ name, kind: Number.isInteger(value) ? 'int' : 'float', value });
    } else if (typeof value === 'string') {
      fields.push({ name, kind: 'str', value });
    }
  }
  return fields;
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

/** Draw the form; `onRun` gets the changed parameters (or an error message). */
export function drawParametersForm(
  fields: readonly IParameterField[],
  onRun: (params: Record<string, unknown>) => void,
  onInvalid: (message: string) => void
): HTMLFormElement {
  const form = document.createElement('form');
  form.className = 'jp-mlpipe-params-form';
  for (const f of fields) {
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
    form.appendChild(label);
  }
  const button = document.createElement('button');
  button.type = 'submit';
  button.className = 'jp-Button jp-mod-styled jp-mod-accept';
  button.dataset.action = 'run-params';
  button.textContent = 'Run with these parameters';
  form.appendChild(button);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    try {
      onRun(
        changedParameters(fields, name => {
          const input = form.elements.namedItem(name) as HTMLInputElement;
          return { text: input.value, checked: input.checked };
        })
      );
    } catch (err) {
      onInvalid((err as Error).message);
    }
  });
  return form;
}
