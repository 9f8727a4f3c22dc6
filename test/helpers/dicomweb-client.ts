/**
 * dicomweb-client (the DICOMweb library OHIF uses) under Node 20 for the tests.
 *
 * `import { api } from 'dicomweb-client'` works both in plain Node 20 (which
 * loads the CommonJS "main" build; its exports are detected as named exports)
 * and under vitest. The library speaks XMLHttpRequest, which Node lacks:
 * `xmlhttprequest-ssl` (maintained; supports responseType 'arraybuffer', which
 * dicomweb-client uses for multipart responses) is installed as the global
 * before a client is created.
 */
import { api } from 'dicomweb-client';
import { installXMLHttpRequest } from './xhr.ts';

/** The global XMLHttpRequest: xmlhttprequest-ssl behind the fixes of ./xhr.ts. */
export function installXhrPolyfill(): void {
  installXMLHttpRequest();
}

type Options = Record<string, unknown>;

/**
 * The methods the tests use. The package's generated typings mark every JSDoc
 * option as required (mediaTypes, request, ...), so the tests see this looser view.
 */
export interface DicomwebClient {
  retrieveStudy(o: Options): Promise<ArrayBuffer[]>;
  retrieveSeries(o: Options): Promise<ArrayBuffer[]>;
  retrieveInstance(o: Options): Promise<ArrayBuffer>;
  retrieveStudyMetadata(o: Options): Promise<Record<string, any>[]>;
  retrieveSeriesMetadata(o: Options): Promise<Record<string, any>[]>;
  retrieveInstanceMetadata(o: Options): Promise<Record<string, any>[]>;
  retrieveInstanceFrames(o: Options): Promise<ArrayBuffer[]>;
  retrieveBulkData(o: Options): Promise<ArrayBuffer[]>;
  searchForStudies(o?: Options): Promise<Record<string, any>[]>;
  searchForSeries(o?: Options): Promise<Record<string, any>[]>;
  searchForInstances(o?: Options): Promise<Record<string, any>[]>;
  storeInstances(o: Options): Promise<unknown>;
}

/** A DICOMwebClient for a DICOMweb base URL (e.g. http://127.0.0.1:PORT/dicom-web). */
export function createDicomwebClient(url: string, headers: Record<string, string> = {}): DicomwebClient {
  installXhrPolyfill();
  return new api.DICOMwebClient({ url, headers } as unknown as ConstructorParameters<typeof api.DICOMwebClient>[0]) as unknown as DicomwebClient;
}
