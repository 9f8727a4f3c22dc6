/**
 * Registers carpus's results with a cornerstone-core application: finds carpus's SR and heat-map SC
 * in a study over QIDO-RS, reads them over WADO-RS, displays the measured radiograph with the heat
 * map as an overlay, and fills a results panel.
 */
import { createClient, instanceMetadata, isSc, isSr, studyInstances, type DicomwebClient, type DicomwebSource, type InstanceRef } from './dicomweb.ts';
import { HeatmapOverlay, overlayFromSecondaryCapture } from './overlay.ts';
import { renderPanel, type PanelState } from './panel.ts';
import { isCarpusBoneAgeSr, parseBoneAgeSr, type BoneAgeReport, type DicomJson } from './sr.ts';

/** The libraries of the host application (the extension never bundles its own cornerstone). */
export interface CornerstoneDeps {
  /** cornerstone-core 2.x */
  cornerstone: any;
  /** cornerstone-wado-image-loader 4.x, with its `external` already set or set here. */
  wadoImageLoader: any;
  dicomParser?: any;
}

export interface CarpusOptions {
  dicomweb: DicomwebSource;
  /**
   * Optional: carpus's results API base (e.g. https://carpus.example/api). Only used to say why a
   * study has no SR (queued, running, rejected with the reason); everything else is DICOMweb.
   */
  resultsApi?: string;
  /** Initial overlay opacity (0..1, default 0.6). */
  opacity?: number;
}

export interface OpenedStudy {
  studyInstanceUid: string;
  report?: BoneAgeReport;
  /** The image shown (the measured radiograph when there is a report). */
  displayed?: InstanceRef;
  imageId?: string;
  overlay?: HeatmapOverlay;
  state: PanelState;
}

export class CarpusExtension {
  readonly client: DicomwebClient;
  private readonly root: string;

  constructor(
    private readonly deps: CornerstoneDeps,
    private readonly options: CarpusOptions,
  ) {
    this.root = options.dicomweb.url.replace(/\/+$/, '');
    this.client = createClient(options.dicomweb);
    const loader = deps.wadoImageLoader;
    loader.external.cornerstone ??= deps.cornerstone;
    if (deps.dicomParser) loader.external.dicomParser ??= deps.dicomParser;
    const headers = options.dicomweb.headers ?? {};
    if (Object.keys(headers).length) {
      loader.configure({ beforeSend: (xhr: XMLHttpRequest) => Object.entries(headers).forEach(([k, v]) => xhr.setRequestHeader(k, v)) });
    }
  }

  /** The cornerstone imageId of an instance's first frame (WADO-RS), its metadata registered with the loader. */
  async imageIdFor(ref: InstanceRef, meta?: DicomJson): Promise<string> {
    const imageId = `wadors:${this.root}/studies/${ref.studyInstanceUid}/series/${ref.seriesInstanceUid}/instances/${ref.sopInstanceUid}/frames/1`;
    this.deps.wadoImageLoader.wadors.metaDataManager.add(imageId, meta ?? (await instanceMetadata(this.client, ref)));
    return imageId;
  }

  /** carpus's newest bone-age SR in the study (by ContentDate/Time), if any. */
  async findReport(instances: InstanceRef[]): Promise<BoneAgeReport | undefined> {
    const reports: BoneAgeReport[] = [];
    for (const ref of instances.filter(isSr)) {
      const meta = await instanceMetadata(this.client, ref);
      const manufacturer = meta['00080070']?.Value?.[0];
      if (manufacturer !== 'carpus' || !isCarpusBoneAgeSr(meta)) continue;
      reports.push(parseBoneAgeSr(meta));
    }
    reports.sort((a, b) => (b.contentDateTime ?? '').localeCompare(a.contentDateTime ?? ''));
    return reports[0];
  }

  /** Why there is no SR, from carpus's results API when configured (absent or unreachable: "none"). */
  async statusWithoutReport(studyInstanceUid: string): Promise<PanelState> {
    if (!this.options.resultsApi) return { kind: 'none' };
    try {
      const res = await fetch(`${this.options.resultsApi.replace(/\/+$/, '')}/studies/${studyInstanceUid}/bone-age`, { headers: { accept: 'application/json', ...(this.options.dicomweb.headers ?? {}) } });
      if (!res.ok || !(res.headers.get('content-type') ?? '').includes('json')) return { kind: 'none' };
      const j = (await res.json()) as { status?: string; reason?: string | null };
      if (j.status === 'rejected') return { kind: 'rejected', reason: j.reason ?? 'no reason given' };
      if (j.status === 'failed') return { kind: 'failed', reason: j.reason ?? 'no reason given' };
      if (j.status === 'queued' || j.status === 'running') return { kind: 'pending', status: j.status };
      return { kind: 'none', detail: j.status === 'done' ? 'The result is not (yet) in this archive.' : undefined };
    } catch {
      return { kind: 'none' };
    }
  }

  /**
   * Opens a study in `element` (already enabled with cornerstone.enable) and renders the panel into
   * `panel`. Resolves once the image is displayed and the overlay (if any) is attached.
   */
  async openStudy(element: HTMLElement, panel: HTMLElement | undefined, studyInstanceUid: string): Promise<OpenedStudy> {
    const cs = this.deps.cornerstone;
    if (panel) renderPanel(panel, { kind: 'loading' });
    const opened: OpenedStudy = { studyInstanceUid, state: { kind: 'loading' } };
    try {
      const instances = await studyInstances(this.client, studyInstanceUid);
      const report = await this.findReport(instances);
      opened.report = report;
      const byUid = (uid?: string) => instances.find((i) => i.sopInstanceUid === uid);
      const displayed = report ? byUid(report.sourceSopInstanceUid) : instances.find((i) => !isSr(i) && !isSc(i)) ?? instances.find((i) => !isSr(i));
      opened.state = report ? { kind: 'result', report } : await this.statusWithoutReport(studyInstanceUid);
      if (displayed) {
        const meta = await instanceMetadata(this.client, displayed);
        opened.displayed = displayed;
        opened.imageId = await this.imageIdFor(displayed, meta);
        const image = await cs.loadAndCacheImage(opened.imageId);
        cs.displayImage(element, image);
        const sc = report ? byUid(report.heatmapSopInstanceUid) : undefined;
        if (sc) {
          const scImage = await cs.loadAndCacheImage(await this.imageIdFor(sc));
          const px = scImage.getPixelData() as ArrayLike<number>;
          const channels = px.length === scImage.rows * scImage.columns * 4 ? 4 : 3;
          const canvas = overlayFromSecondaryCapture({ rows: scImage.rows, columns: scImage.columns, data: px, channels }, { rows: image.rows, columns: image.columns });
          opened.overlay = new HeatmapOverlay(cs, element, canvas, this.options.opacity ?? 0.6);
        }
      } else if (report) {
        opened.state = { kind: 'error', message: 'the measured radiograph is not in this archive' };
      }
    } catch (err) {
      opened.state = { kind: 'error', message: err instanceof Error ? err.message : String(err) };
    }
    if (panel) renderPanel(panel, opened.state);
    return opened;
  }
}

/**
 * Mouse gestures with cornerstone-tools 6: left drag window/level, right drag zoom, middle drag
 * pan, wheel zoom; touch: pinch zoom, two-finger pan.
 */
export function enableStandardTools(cornerstoneTools: any, element: HTMLElement): void {
  for (const [tool, opts] of [
    ['Wwwc', { mouseButtonMask: 1 }],
    ['Zoom', { mouseButtonMask: 2 }],
    ['Pan', { mouseButtonMask: 4 }],
    ['ZoomMouseWheel', {}],
    ['ZoomTouchPinch', {}],
    ['PanMultiTouch', {}],
  ] as const) {
    if (!cornerstoneTools.getToolForElement(element, tool)) cornerstoneTools.addToolForElement(element, cornerstoneTools[`${tool}Tool`]);
    cornerstoneTools.setToolActiveForElement(element, tool, opts);
  }
}
