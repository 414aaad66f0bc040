/** The pipeline view's side pane for the selected step: status and why it would re-run, links (its cell, its executed notebook, debug), a running step's live log, its outputs' previews, what it printed and drew, its metrics and per-step curves. */
import { CommandRegistry } from '@lumino/commands';

import { CommandIDs } from '../../tokens';
import { PipelineModel } from '../../model/model';
import { IStep, StepStatus } from '../../tokens';
import { IStepOutputs, IViewClient } from './client';
import { h, link, simpleTable } from './dom';
import { formatDuration, formatTime, formatValue } from './format';
import { lineChart } from './lineChart';
import { LiveLog } from './liveLog';
import { drawPreview } from './previews';
import { STATUS_TEXT, statusIcon } from './status';

export interface IDetailsServices {
  model: PipelineModel;
  client: IViewClient;
  commands: CommandRegistry;
  /** Show the notebook's cell of `step` (activates the notebook tab). */
  goToCell(step: string): void;
  openRun(runId: string): void;
}

export class StepDetails {
  constructor(node: HTMLElement, services: IDetailsServices) {
    this._node = node;
    this._s = services;
  }

  /** Draw `step` (null: a hint); outputs are fetched again only when asked or the step changed. */
  show(step: IStep | null, refetch: boolean): void {
    const model = this._s.model;
    const changed = step?.name !== this._step;
    this._step = step?.name ?? null;
    if (!step) {
      const hint = h(
        'p',
        { class: 'jp-mlpipe-muted' },
        'Click a step to see its outputs, printed output, metrics and why it would re-run.'
      );
      // nothing selected while a run goes on: the log of the step running now
      const running =
        Object.entries(model.states).find(([, s]) => s === 'running')?.[0] ?? this._logStep;
      const box = h('div', { class: 'jp-mlpipe-log-box', 'data-step': running ?? '' });
      this._node.replaceChildren(hint, box);
      if (running) {
        box.appendChild(h('div', {}, h('b', {}, running), ` ${model.states[running] ?? ''}`));
        this._showLog(running, model.states[running] ?? 'succeeded', box);
      } else {
        this._stopLog();
      }
      return;
    }
    const status: StepStatus = model.states[step.name] || step.status;
    const root = h('div', {
      class: 'jp-mlpipe-step-details',
      'data-step': step.name,
      'data-status': status
    });
    const badge = h(
      'span',
      { class: 'jp-mlpipe-badge', 'data-status': status },
      `${statusIcon(status)} ${STATUS_TEXT[status] ?? status}`
    );
    root.appendChild(h('h3', {}, step.name, ' ', badge));
    const outcome = model.outcomeOf(step.name);
    if (outcome?.duration != null) {
      root.appendChild(
        h(
          'div',
          { class: 'jp-mlpipe-muted' },
          `${outcome.reused ? 'reused' : outcome.state} in ${formatDuration(outcome.duration)}`
        )
      );
    }
    if (status === 'stale' || status === 'invalid') {
      const why = step.error ? [step.error] : step.reasons;
      root.appendChild(
        h(
          'div',
          { class: 'jp-mlpipe-why' },
          h('b', {}, step.verdict === 'may re-run' ? 'May re-run: ' : 'Will re-run: '),
          why.join('; ') || 'never run'
        )
      );
    } else if (status === 'cached') {
      root.appendChild(
        h('div', { class: 'jp-mlpipe-why' }, 'Stored result matches: the next run reuses it.')
      );
    }
    const actions = h('div', { class: 'jp-mlpipe-actions' });
    actions.append(link('Go to cell', 'go-to-cell', () => this._s.goToCell(step.name)));
    actions.append(
      link(
        'Run this step',
        'run-this-step',
        () => void this._s.commands.execute(CommandIDs.runStep, { step: step.name })
      )
    );
    actions.append(
      link(
        'Run up to here',
        'run-up-to',
        () => void this._s.commands.execute(CommandIDs.runUpTo, { step: step.name })
      )
    );
    if (this._s.commands.hasCommand(CommandIDs.debugStep)) {
      actions.append(
        link(
          'Debug in notebook',
          'debug-step',
          () => void this._s.commands.execute(CommandIDs.debugStep, { step: step.name })
        )
      );
    }
    root.appendChild(actions);
    const failure = model.failureOf(step.name);
    if (status === 'failed') {
      const text = failure
        ? `${failure.ename}: ${failure.evalue}` +
          (failure.line != null ? `\nline ${failure.line}: ${failure.line_text ?? ''}` : '')
        : outcome?.error || 'failed';
      root.appendChild(h('pre', { class: 'jp-mlpipe-failure-text' }, text));
    }
    const logBox = h('div', { class: 'jp-mlpipe-log-box' });
    root.appendChild(logBox);
    const outputs = h('div', { class: 'jp-mlpipe-outputs-box' });
    root.appendChild(outputs);
    this._node.replaceChildren(root);
    this._showLog(step.name, status, logBox);
    if (changed || refetch || !this._outputs || this._outputs.step !== step.name) {
      this._outputs = null;
      outputs.appendChild(h('p', { class: 'jp-mlpipe-muted' }, 'Loading outputs…'));
      void this._load(step.name, outputs, step.key ?? undefined);
    } else {
      this._drawOutputs(this._outputs, outputs);
    }
  }

  dispose(): void {
    this._stopLog();
  }

  private async _load(step: string, box: HTMLElement, key?: string): Promise<void> {
    const path = this._s.model.path;
    if (!path) {
      return;
    }
    try {
      const data = await this._s.client.stepOutputs(path, step, undefined, key);
      if (this._step !== step) {
        return;
      }
      this._outputs = data;
      this._drawOutputs(data, box);
    } catch (err) {
      if (this._step === step) {
        const state = this._s.model.states[step];
        const text =
          state === 'running' || state === 'pending'
            ? 'Its outputs are shown here once it has run.'
            : String((err as Error).message || err).replace(/^404: /, '');
        box.replaceChildren(h('p', { class: 'jp-mlpipe-muted jp-mlpipe-no-outputs' }, text));
      }
    }
  }

  private _drawOutputs(d: IStepOutputs, box: HTMLElement): void {
    const parts: Node[] = [];
    const from = d.reused
      ? `Reused in run ${d.run_id}; computed in run ${d.executed_run}`
      : `Executed in run ${d.run_id}`;
    const head = h(
      'div',
      { class: 'jp-mlpipe-from' },
      from + (d.finished ? ` (${formatTime(d.finished)})` : ''),
      ' · '
    );
    head.append(link('open run', 'open-run', () => this._s.openRun(d.run_id)));
    if (d.has_notebook) {
      head.append(
        ' · ',
        link(
          'executed notebook',
          'open-executed',
          () =>
            void this._s.commands.execute(CommandIDs.openExecuted, {
              step: d.step,
              runId: d.executed_run
            })
        )
      );
    }
    parts.push(head);
    if (d.current === false) {
      parts.push(
        h(
          'div',
          { class: 'jp-mlpipe-why jp-mlpipe-not-current' },
          'From an earlier version of this step: a run stores new ones.'
        )
      );
    }
    parts.push(h('h4', {}, `Outputs (${d.outputs.length})`));
    if (!d.outputs.length) {
      parts.push(h('p', { class: 'jp-mlpipe-muted' }, 'This step stores no variables.'));
    }
    for (const o of d.outputs) {
      parts.push(drawPreview(o.name, o.preview));
    }
    if (d.printed.length) {
      const printed = h('div', { class: 'jp-mlpipe-printed' });
      for (const p of d.printed) {
        if (p.type === 'image') {
          const src =
            p.mime === 'image/svg+xml'
              ? `data:${p.mime};charset=utf-8,${encodeURIComponent(p.data)}`
              : `data:${p.mime};base64,${p.data}`;
          printed.appendChild(
            h('img', { src, alt: `figure drawn by ${d.step}`, class: 'jp-mlpipe-figure' })
          );
        } else {
          printed.appendChild(h('pre', { class: 'jp-mlpipe-stdout', 'data-name': p.name }, p.text));
        }
      }
      parts.push(h('h4', {}, 'Printed output and figures'), printed);
    }
    const metrics = d.metrics.filter(m => typeof m.value === 'number');
    if (metrics.length || Object.keys(d.params).length) {
      parts.push(h('h4', {}, 'Metrics'));
      const last = new Map<string, unknown>();
      metrics.forEach(m => last.set(m.name, m.value));
      const rows = [...last].map(([k, v]) => [k, formatValue(v)]);
      rows.push(...Object.entries(d.params).map(([k, v]) => [`${k} (param)`, formatValue(v)]));
      parts.push(simpleTable(['name', 'value'], rows, 'jp-mlpipe-step-metrics'));
      const curves = new Map<string, { x: number; y: number }[]>();
      for (const m of metrics) {
        if (m.iteration != null) {
          curves.set(m.name, [
            ...(curves.get(m.name) || []),
            { x: m.iteration, y: m.value as number }
          ]);
        }
      }
      for (const [name, points] of curves) {
        parts.push(
          lineChart({
            title: name,
            xLabel: 'step',
            yLabel: name,
            series: [{ name, points }],
            width: 340,
            height: 190
          })
        );
      }
    }
    box.replaceChildren(...parts);
  }

  /** While the step runs, its printed output streams into the pane; the log stays once it ended. */
  private _showLog(step: string, status: StepStatus, box: HTMLElement): void {
    const live = this._s.model.liveRun;
    if (status === 'running' && live) {
      const key = `${live}/${step}`;
      if (this._logKey !== key) {
        this._stopLog();
        this._logKey = key;
        this._logStep = step;
        this._logPre.textContent = '';
        this._log = new LiveLog(this._s.client, this._s.model.path!, live, step, text =>
          this._append(text)
        );
      }
    } else if (this._logStep === step) {
      if (this._log && !this._log.isDisposed) {
        void this._log.finish(); // what it printed last
      }
    } else {
      this._stopLog();
      return;
    }
    // an empty box says why (the stylesheet words it), never looks broken
    this._logPre.dataset.state = status === 'running' ? 'running' : 'ended';
    box.append(h('h4', {}, status === 'running' ? 'Live log' : 'Log'), this._logPre);
  }

  private _append(text: string): void {
    const pre = this._logPre;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent += text;
    if (atEnd) {
      pre.scrollTop = pre.scrollHeight;
    }
  }

  private _stopLog(): void {
    this._log?.dispose();
    this._log = null;
    this._logKey = null;
    this._logStep = null;
  }

  private readonly _node: HTMLElement;
  private readonly _s: IDetailsServices;
  private _step: string | null = null;
  private _outputs: IStepOutputs | null = null;
  private _log: LiveLog | null = null;
  private _logKey: string | null = null;
  private _logStep: string | null = null;
  private readonly _logPre = h('pre', { class: 'jp-mlpipe-live-log', 'aria-live': 'polite' });
}
