/** The parameters form: a field per parameter (model/parameters), read back as values (or, in sweep mode, lists of values). */
import { changedParameters, FieldError, IParameterField } from '../model/parameters';
import { ISweepRequest, parseValues, sweepRequest } from '../model/sweeps';

/**
 * What the form does with its values: run once, or (sweep mode) start a sweep. A rejected
 * promise (the server refused: a run going on, an unknown name) is said under the form.
 */
export interface IParametersFormActions {
  onRun: (params: Record<string, unknown>) => Promise<unknown>;
  onSweep: (request: ISweepRequest) => Promise<unknown>;
  /** The sweep checkbox was toggled (the panel keeps the mode across redraws). */
  onSweepMode?: (on: boolean) => void;
}

/** Sweep mode: every field is a text of comma-separated values (a bool's "true, false"). */
function setSweepMode(
  form: HTMLFormElement,
  fields: readonly IParameterField[],
  on: boolean
): void {
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
  label.className = 'jp-mlpipe-field';
  label.textContent = `${f.name} `;
  const input = document.createElement('input');
  input.name = f.name;
  input.setAttribute('aria-describedby', `jp-mlpipe-field-error-${f.name}`);
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

/** The line under a field (or, for `field` null, under the button) that says what is wrong. */
function errorLine(form: HTMLFormElement, field: string | null): HTMLElement {
  return form.querySelector(
    field === null
      ? '.jp-mlpipe-form-error'
      : `.jp-mlpipe-field-error[data-field="${CSS.escape(field)}"]`
  ) as HTMLElement;
}

/** Say `message` next to `field` (null: the whole form), or clear it (message null). */
export function showFormError(
  form: HTMLFormElement,
  field: string | null,
  message: string | null
): void {
  const line = errorLine(form, field);
  if (!line) {
    return;
  }
  line.textContent = message ?? '';
  line.hidden = !message;
  if (field !== null) {
    const input = form.elements.namedItem(field) as HTMLInputElement | null;
    input?.toggleAttribute('aria-invalid', !!message);
    input?.closest('label')?.classList.toggle('jp-mod-invalid', !!message);
  }
}

function clearFormErrors(form: HTMLFormElement, fields: readonly IParameterField[]): void {
  fields.forEach(f => showFormError(form, f.name, null));
  showFormError(form, null, null);
}

/** Every field's own error (each field read alone), so all bad values are said at once. */
function fieldErrors(
  fields: readonly IParameterField[],
  sweep: boolean,
  input: (name: string) => HTMLInputElement
): Map<string, string> {
  const errors = new Map<string, string>();
  for (const f of fields) {
    try {
      if (sweep) {
        parseValues(f, input(f.name).value);
      } else {
        changedParameters([f], name => ({
          text: input(name).value,
          checked: input(name).checked
        }));
      }
    } catch (err) {
      errors.set(f.name, (err as Error).message);
    }
  }
  return errors;
}

/** Draw the form (in sweep mode if `sweep`): a field per parameter, a sweep checkbox, a run button. */
export function drawParametersForm(
  fields: readonly IParameterField[],
  actions: IParametersFormActions,
  sweep = false
): HTMLFormElement {
  const form = document.createElement('form');
  form.className = 'jp-mlpipe-params-form';
  form.noValidate = true; // our message under the field, not the browser's passing bubble
  const mode = document.createElement('label');
  mode.className = 'jp-mlpipe-sweep-mode';
  mode.title = 'Run every combination of several comma-separated values per parameter';
  const toggle = document.createElement('input');
  toggle.type = 'checkbox';
  toggle.dataset.action = 'sweep-mode';
  mode.append(toggle, ' sweep: several values per parameter');
  form.appendChild(mode);
  const errorBox = (cls: string, field?: string) => {
    const line = document.createElement('div');
    line.className = `jp-mlpipe-inline-error ${cls}`;
    line.setAttribute('role', 'alert');
    line.hidden = true;
    if (field !== undefined) {
      line.dataset.field = field;
      line.id = `jp-mlpipe-field-error-${field}`;
    }
    return line;
  };
  for (const f of fields) {
    form.append(fieldInput(f), errorBox('jp-mlpipe-field-error', f.name));
  }
  const button = document.createElement('button');
  button.type = 'submit';
  button.className = 'jp-Button jp-mod-styled jp-mod-accept';
  form.append(button, errorBox('jp-mlpipe-form-error'));
  toggle.checked = sweep;
  setSweepMode(form, fields, sweep);
  toggle.addEventListener('change', () => {
    setSweepMode(form, fields, toggle.checked);
    clearFormErrors(form, fields);
    actions.onSweepMode?.(toggle.checked);
  });
  // a corrected value clears its line as it is typed
  form.addEventListener('input', ev => {
    const name = (ev.target as HTMLInputElement).name;
    if (name) {
      showFormError(form, name, null);
      showFormError(form, null, null);
    }
  });
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const input = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
    clearFormErrors(form, fields);
    const errors = fieldErrors(fields, toggle.checked, input);
    if (errors.size) {
      errors.forEach((message, name) => showFormError(form, name, message));
      input(errors.keys().next().value as string).focus();
      return; // nothing is started with a bad value
    }
    let started: Promise<unknown>;
    try {
      started = toggle.checked
        ? actions.onSweep(sweepRequest(fields, name => input(name).value))
        : actions.onRun(
            changedParameters(fields, name => ({
              text: input(name).value,
              checked: input(name).checked
            }))
          );
    } catch (err) {
      const field = err instanceof FieldError ? err.field : null;
      showFormError(form, field, (err as Error).message);
      return;
    }
    button.disabled = true;
    started
      .catch(err => showFormError(form, null, String((err as Error)?.message ?? err)))
      .finally(() => (button.disabled = false));
  });
  return form;
}
