/** carpus cornerstone extension: public API. */
export { CarpusExtension, enableStandardTools, type CarpusOptions, type CornerstoneDeps, type OpenedStudy } from './extension.ts';
export { HeatmapOverlay, overlayFromSecondaryCapture, type RgbImage } from './overlay.ts';
export { renderPanel, type PanelState } from './panel.ts';
export { parseBoneAgeSr, isCarpusBoneAgeSr, yearsMonths, type BoneAgeReport, type NumValue, type DicomJson } from './sr.ts';
export { createClient, searchStudies, studyInstances, instanceMetadata, type DicomwebSource, type InstanceRef, type StudySummary } from './dicomweb.ts';
