/** The parameters form: a field per parameter (model/parameters), read back as values (or, in sweep mode, lists of values). */
import { changedParameters, IParameterField } from '../model/parameters';
import { ISweepRequest, sweepRequest } from '../model/sweeps';

/** What the form does with its values: run once, or (sweep mode) start a sweep; errors go to `onInvalid`. */
export interface IParametersFormActions {
  onRun: (params: Record<string, unknown>) => void;
  onSweep: (request: ISweepRequest) => void;
  onInvalid: (message: string) => void;
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
          changedParameters(fields, name => ({
            text: input(name).value,
            checked: input(name).checked
          }))
        );
      }
    } catch (err) {
      actions.onInvalid((err as Error).message);
    }
  });
  return form;
}
