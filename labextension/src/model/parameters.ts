/** Parameters as the form edits them: fields typed by the parameters cell's literal defaults, and the values read back from text. */

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
      const kind =
        type === 'float' || type === 'int' ? type : Number.isInteger(value) ? 'int' : 'float';
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

/** A value a field cannot take: `field` names the input, so the form can say it next to it. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string
  ) {
    super(message);
    this.name = 'FieldError';
  }
}

/** "not '2.5'", or for an empty text (a number input holding no number) what that means. */
function not(text: string): string {
  return text.trim() === '' ? 'and the field is empty (or not a number)' : `not '${text}'`;
}

/** The typed value of a field's text (checkbox state for bool); throws a FieldError if invalid. */
export function parseField(field: IParameterField, text: string, checked = false): unknown {
  switch (field.kind) {
    case 'bool':
      return checked;
    case 'str':
      return text;
    case 'int': {
      if (!/^[-+]?\d+$/.test(text.trim())) {
        throw new FieldError(field.name, `${field.name} must be a whole number, ${not(text)}`);
      }
      return parseInt(text, 10);
    }
    case 'float': {
      const v = Number(text);
      if (text.trim() === '' || Number.isNaN(v)) {
        throw new FieldError(field.name, `${field.name} must be a number, ${not(text)}`);
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

/**
 * Why a past run's `value` does not fit `field` as the notebook types it now (null: it fits).
 * A re-run sends values as they were; a parameter whose literal changed type refuses them here.
 */
export function valueMismatch(field: IParameterField, value: unknown): string | null {
  const fits =
    field.kind === 'bool'
      ? typeof value === 'boolean'
      : field.kind === 'str'
        ? typeof value === 'string'
        : field.kind === 'int'
          ? typeof value === 'number' && Number.isInteger(value)
          : typeof value === 'number';
  if (fits) {
    return null;
  }
  const want = { int: 'a whole number', float: 'a number', bool: 'True or False', str: 'a string' };
  return (
    `${field.name} must be ${want[field.kind]} (the parameters cell now says ` +
    `${field.name} = ${JSON.stringify(field.value)}), not ${JSON.stringify(value)}`
  );
}
