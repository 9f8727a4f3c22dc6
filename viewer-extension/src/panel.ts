/** The results panel: plain DOM, so any application can place it where it likes. */
import { yearsMonths, type BoneAgeReport, type NumValue } from './sr.ts';

export type PanelState =
  | { kind: 'loading' }
  | { kind: 'result'; report: BoneAgeReport }
  | { kind: 'none'; detail?: string }
  | { kind: 'pending'; status: string }
  | { kind: 'rejected'; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'error'; message: string };

const h = (tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
};
const signed = (n: NumValue) => (n.value > 0 ? `+${n.text}` : n.value < 0 ? `\u2212${n.text.replace(/^-/, '')}` : n.text);

function row(field: string, label: string, value: Node | string, extra?: string): HTMLElement {
  return h('div', { class: 'carpus-row', 'data-field': field }, h('span', { class: 'carpus-label' }, label), h('span', { class: 'carpus-value' }, value), ...(extra ? [h('span', { class: 'carpus-extra' }, extra)] : []));
}

/** Renders `state` into `el` (its previous content is replaced). */
export function renderPanel(el: HTMLElement, state: PanelState): void {
  el.classList.add('carpus-panel');
  el.dataset.state = state.kind;
  const title = h('h2', {}, 'AI bone age');
  if (state.kind !== 'result') {
    const text =
      state.kind === 'loading'
        ? 'Loading the study\u2026'
        : state.kind === 'none'
          ? `No carpus result in this study yet.${state.detail ? ` ${state.detail}` : ''}`
          : state.kind === 'pending'
            ? `Analysis ${state.status}: the result appears here when it is stored.`
            : state.kind === 'rejected'
              ? 'Not analysed: carpus rejected this study.'
              : state.kind === 'failed'
                ? 'The analysis failed.'
                : 'The study could not be read.';
    const reason = state.kind === 'rejected' || state.kind === 'failed' ? state.reason : state.kind === 'error' ? state.message : undefined;
    el.replaceChildren(title, h('p', { class: 'carpus-status' }, text), ...(reason ? [h('p', { class: 'carpus-reason', 'data-field': 'reason' }, `Reason: ${reason}`)] : []));
    return;
  }
  const r = state.report;
  const rows: HTMLElement[] = [
    row('boneAge', 'Bone age', h('strong', {}, yearsMonths(r.boneAge.value)), `${r.boneAge.text} months`),
  ];
  if (r.chronologicalAge) rows.push(row('chronologicalAge', 'Chronological age', yearsMonths(r.chronologicalAge.value), `${r.chronologicalAge.text} months`));
  else rows.push(row('chronologicalAge', 'Chronological age', 'unknown'));
  if (r.difference) rows.push(row('difference', 'Difference', `${signed(r.difference)} months`));
  if (r.sds) {
    const range = r.sd && r.chronologicalAge
      ? `normal range \u22122 to +2 SD (SD ${r.sd.text} months: ${(r.chronologicalAge.value - 2 * r.sd.value).toFixed(1)}\u2013${(r.chronologicalAge.value + 2 * r.sd.value).toFixed(1)} months)`
      : 'normal range \u22122 to +2 SD';
    rows.push(row('sds', 'SDS (Greulich-Pyle)', signed(r.sds), range));
  } else rows.push(row('sds', 'SDS', 'not computed (sex or chronological age unknown)'));
  const verdict = r.verdictCode === 'BA-DELAYED' ? 'Delayed' : r.verdictCode === 'BA-ADVANCED' ? 'Advanced' : r.verdictCode === 'BA-NORMAL' ? 'Within normal range' : 'not assessed';
  rows.push(row('verdict', 'Assessment', h('span', { class: `carpus-verdict carpus-${(r.verdictCode ?? 'none').toLowerCase()}` }, verdict), r.verdictMeaning ?? ''));
  rows.push(row('model', 'Model', `${r.algorithmName ?? '?'} ${r.algorithmVersion ?? ''}`.trim()));
  el.replaceChildren(
    title,
    h('div', { class: 'carpus-rows' }, ...rows),
    h('p', { class: 'carpus-statement', 'data-field': 'statement' }, r.statement ?? 'AI result: to be verified by a physician.'),
  );
}
