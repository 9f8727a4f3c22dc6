// Minimal typings for the parts of dcmjs that carpus uses (dcmjs ships none).
declare module 'dcmjs' {
  export interface DcmjsElement {
    vr: string;
    Value?: unknown[];
    _rawValue?: unknown;
    InlineBinary?: string;
    BulkDataURI?: string;
  }
  export type DcmjsDict = Record<string, DcmjsElement>;
  export interface DictionaryEntry {
    tag: string;
    vr: string;
    vm: string;
    name: string;
  }
  export class DicomDict {
    constructor(meta: DcmjsDict);
    meta: DcmjsDict;
    dict: DcmjsDict;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomMessage: {
        readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { meta: DcmjsDict; dict: DcmjsDict };
      };
      DicomDict: typeof DicomDict;
      DicomMetaDictionary: {
        nameMap: Record<string, DictionaryEntry>;
        dictionary: Record<string, DictionaryEntry>;
        naturalizeDataset(dict: DcmjsDict): Record<string, unknown>;
        denaturalizeDataset(ds: Record<string, unknown>): DcmjsDict;
        punctuateTag(tag: string): string;
        unpunctuateTag(tag: string): string;
        uid(): string;
      };
    };
    log: {
      setLevel(level: string): void;
      getLogger(name: string): { setLevel(level: string): void };
    };
    sr: Record<string, unknown>;
  };
  export default dcmjs;
}
