/**
 * carpus's demo viewer (served at /viewer/): a study list from QIDO-RS and, with
 * ?StudyInstanceUID=..., the study with carpus's results. The DICOMweb root is this page's
 * origin's /dicom-web (same-origin: the page is served by carpus, or by the PACS next to its
 * DICOMweb service), or ?dicomweb=<url> for another service that allows this origin (CORS).
 */
import cornerstone from 'cornerstone-core';
import cornerstoneTools from 'cornerstone-tools';
import cornerstoneMath from 'cornerstone-math';
import Hammer from 'hammerjs';
import dicomParser from 'dicom-parser';
import wadoImageLoader from 'cornerstone-wado-image-loader/dist/cornerstoneWADOImageLoaderNoWebWorkers.bundle.min.js';
import { CarpusExtension, enableStandardTools, searchStudies, type OpenedStudy } from '../src/index.ts';

const params = new URLSearchParams(location.search);
const dicomweb = params.get('dicomweb') ?? new URL('../dicom-web', location.href).href;
// carpus's results API sits next to its DICOMweb root; elsewhere it answers 404 and is ignored.
const resultsApi = params.get('api') ?? new URL('../api', new URL(dicomweb.replace(/\/+$/, '') + '/')).href;
const app = document.getElementById('app')!;
document.getElementById('source')!.textContent = `DICOMweb: ${dicomweb}`;

const h = (tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
};
const da = (s?: string) => (s && /^\d{8}$/.test(s) ? `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6)}` : s ?? '');
const link = (uid: string) => `?${new URLSearchParams({ ...(params.get('dicomweb') ? { dicomweb } : {}), StudyInstanceUID: uid })}`;

wadoImageLoader.external.cornerstone = cornerstone;
wadoImageLoader.external.dicomParser = dicomParser;
const ext = new CarpusExtension({ cornerstone, wadoImageLoader, dicomParser }, { dicomweb: { url: dicomweb }, resultsApi });
(window as any).carpusViewer = { state: 'starting' as string, opened: undefined as OpenedStudy | undefined };

async function showList(): Promise<void> {
  document.title = 'Studies \u2014 carpus viewer';
  const box = h('section', { class: 'list' }, h('p', { class: 'muted' }, 'Loading studies\u2026'));
  app.replaceChildren(box);
  const studies = await searchStudies(ext.client);
  const rows = studies.map((s) =>
    h('tr', { 'data-study': s.studyInstanceUid },
      h('td', {}, h('a', { href: link(s.studyInstanceUid) }, s.patientName ? s.patientName.replace(/\^+$/, '').replace(/\^/g, ', ') : '(no name)')),
      h('td', {}, s.patientId ?? ''), h('td', {}, da(s.studyDate)), h('td', {}, s.accessionNumber ?? ''),
      h('td', {}, s.studyDescription ?? ''), h('td', {}, s.modalities ?? ''), h('td', {}, s.instances ?? '')),
  );
  box.replaceChildren(
    h('h1', {}, `Studies (${studies.length})`),
    studies.length
      ? h('table', {}, h('thead', {}, h('tr', {}, ...['Patient', 'ID', 'Date', 'Accession', 'Description', 'Modalities', 'Instances'].map((t) => h('th', {}, t)))), h('tbody', {}, ...rows))
      : h('p', { class: 'muted' }, 'No studies in this archive.'),
  );
  (window as any).carpusViewer.state = 'list';
}

async function showStudy(uid: string): Promise<void> {
  document.title = 'Study \u2014 carpus viewer';
  const element = h('div', { class: 'cs', tabindex: '0' });
  element.addEventListener('contextmenu', (e) => e.preventDefault());
  const overlayBox = h('input', { type: 'checkbox', id: 'overlay', disabled: '' }) as HTMLInputElement;
  const opacity = h('input', { type: 'range', id: 'opacity', min: '0', max: '100', value: '60', disabled: '' }) as HTMLInputElement;
  const reset = h('button', { id: 'reset', type: 'button' }, 'Reset view');
  const panel = h('aside', { class: 'side', id: 'panel' });
  app.replaceChildren(
    h('section', { class: 'view' },
      h('div', { class: 'stage' },
        h('div', { class: 'toolbar' },
          h('a', { class: 'button', href: link('').replace(/StudyInstanceUID=&?/, '').replace(/\?$/, '') || './' }, '\u2190 Studies'),
          h('label', { title: 'Heat map overlay (H)' }, overlayBox, 'Heat map (H)'),
          h('label', {}, 'Opacity', opacity),
          reset,
          h('span', { class: 'hint' }, 'Left drag: window/level \u00b7 right drag or wheel: zoom \u00b7 middle drag: pan')),
        h('div', { class: 'viewport' }, element)),
      panel),
  );
  cornerstone.enable(element);
  enableStandardTools(cornerstoneTools, element);
  const opened = await ext.openStudy(element, panel, uid);
  (window as any).carpusViewer.opened = opened;
  const onResize = () => cornerstone.resize(element, true);
  window.addEventListener('resize', onResize);
  reset.addEventListener('click', () => cornerstone.reset(element));
  const overlay = opened.overlay;
  if (overlay) {
    overlayBox.disabled = false;
    opacity.disabled = false;
    overlayBox.checked = overlay.visible;
    opacity.value = String(Math.round(overlay.opacity * 100));
    const sync = () => (overlayBox.checked = overlay.visible);
    overlayBox.addEventListener('change', () => (overlay.visible = overlayBox.checked));
    opacity.addEventListener('input', () => (overlay.opacity = Number(opacity.value) / 100));
    window.addEventListener('keydown', (e) => {
      if ((e.key === 'h' || e.key === 'H') && !e.ctrlKey && !e.metaKey && !e.altKey && !(e.target instanceof HTMLInputElement && e.target.type !== 'checkbox' && e.target.type !== 'range')) {
        overlay.toggle();
        sync();
      }
    });
  }
  // A study still queued or running at carpus: look again in a few seconds.
  if (opened.state.kind === 'pending') {
    setTimeout(() => {
      window.removeEventListener('resize', onResize);
      cornerstone.disable(element);
      void showStudy(uid);
    }, 4000);
  }
  (window as any).carpusViewer.state = opened.displayed ? 'ready' : opened.state.kind;
}

cornerstoneTools.external.cornerstone = cornerstone;
cornerstoneTools.external.cornerstoneMath = cornerstoneMath;
cornerstoneTools.external.Hammer = Hammer;
cornerstoneTools.init({ showSVGCursors: false });

const study = params.get('StudyInstanceUID');
(study ? showStudy(study) : showList()).catch((err) => {
  app.replaceChildren(h('section', { class: 'list' }, h('p', { class: 'carpus-reason' }, `Error: ${err instanceof Error ? err.message : String(err)}`)));
  (window as any).carpusViewer.state = 'error';
});
