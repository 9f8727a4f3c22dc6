/**
 * Routing rules: which newly stored instances carpus analyses, and when.
 * Loaded from a JSON file (CARPUS_ROUTING_RULES, default config/routing.json); every key is
 * optional and falls back to the defaults below. See README "Auto-analysis and audit".
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { DicomJson } from '../dicom/json.ts';
import { str } from '../dicom/json.ts';
import { T } from '../dicom/dictionary.ts';

export const DEFAULT_RULES_FILE = path.resolve(import.meta.dirname, '../../config/routing.json');

const CR = '1.2.840.10008.5.1.4.1.1.1';
const DX_PRESENTATION = '1.2.840.10008.5.1.4.1.1.1.1';
const DX_PROCESSING = '1.2.840.10008.5.1.4.1.1.1.1.1';

const RulesSchema = z
  .object({
    $comment: z.string().optional(),
    /** false: nothing is analysed automatically. */
    enabled: z.boolean().default(true),
    /** Seconds a series must have received no new instance before its instances are analysed. */
    stableSeconds: z.number().min(0).max(3600).default(3),
    /** Modality (0008,0060) values analysed; upper case. */
    modalities: z.array(z.string()).default(['CR', 'DX', 'DR']),
    /** Image SOP classes analysed. */
    sopClasses: z.array(z.string()).default([CR, DX_PRESENTATION, DX_PROCESSING]),
    /** BodyPartExamined (0018,0015) values analysed (upper case, compared without spaces). */
    bodyParts: z.array(z.string()).default(['HAND', 'WRIST', 'CARPUS', 'FINGER', 'HANDS', 'LHAND', 'RHAND', 'BONEAGE']),
    /** Analyse instances with no BodyPartExamined (many hand radiographs leave it empty). */
    allowEmptyBodyPart: z.boolean().default(true),
    /** When not empty, SeriesDescription must match one of these (JS regular expressions, case-insensitive). */
    seriesDescriptionInclude: z.array(z.string()).default([]),
    /** SeriesDescription must match none of these (JS regular expressions, case-insensitive). */
    seriesDescriptionExclude: z.array(z.string()).default([]),
    /** carpus's own results are never analysed: recognised by any of these. */
    ownObjects: z
      .object({
        manufacturers: z.array(z.string()).default(['carpus']),
        sopClasses: z.array(z.string()).default(['1.2.840.10008.5.1.4.1.1.88.33', '1.2.840.10008.5.1.4.1.1.88.22', '1.2.840.10008.5.1.4.1.1.88.34']),
        privateCreators: z.array(z.string()).default(['CARPUS']),
      })
      .prefault({}),
  })
  .strict();

export type RoutingRulesConfig = z.infer<typeof RulesSchema>;

export interface RoutingDecision {
  match: boolean;
  /** Why (not): short, no PHI (values of Modality, BodyPartExamined, SOP class only). */
  reason: string;
}

export class RoutingRulesError extends Error {
  override name = 'RoutingRulesError';
}

const norm = (s: string) => s.toUpperCase().replace(/[\s_-]+/g, '');

export class RoutingRules {
  private readonly include: RegExp[];
  private readonly exclude: RegExp[];
  private readonly bodyParts: Set<string>;
  private readonly modalities: Set<string>;
  private readonly sopClasses: Set<string>;
  private readonly own: { manufacturers: Set<string>; sopClasses: Set<string>; privateCreators: Set<string> };

  constructor(
    readonly config: RoutingRulesConfig,
    readonly source = '(defaults)',
  ) {
    const re = (p: string) => {
      try {
        return new RegExp(p, 'i');
      } catch (err) {
        throw new RoutingRulesError(`${source}: bad regular expression ${JSON.stringify(p)}: ${(err as Error).message}`);
      }
    };
    this.include = config.seriesDescriptionInclude.map(re);
    this.exclude = config.seriesDescriptionExclude.map(re);
    this.bodyParts = new Set(config.bodyParts.map(norm));
    this.modalities = new Set(config.modalities.map((m) => m.toUpperCase()));
    this.sopClasses = new Set(config.sopClasses);
    this.own = {
      manufacturers: new Set(config.ownObjects.manufacturers.map((m) => m.toLowerCase())),
      sopClasses: new Set(config.ownObjects.sopClasses),
      privateCreators: new Set(config.ownObjects.privateCreators.map((m) => m.toUpperCase())),
    };
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  get stableMs(): number {
    return this.config.stableSeconds * 1000;
  }

  static parse(json: unknown, source = '(inline)'): RoutingRules {
    const r = RulesSchema.safeParse(json);
    if (!r.success) {
      const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new RoutingRulesError(`invalid routing rules in ${source}:\n${lines.join('\n')}`);
    }
    return new RoutingRules(r.data, source);
  }

  /** Reads the rules file; a missing explicit file is an error, a missing default file means defaults. */
  static load(file?: string): RoutingRules {
    const f = file ? path.resolve(file) : DEFAULT_RULES_FILE;
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (err) {
      if (!file && (err as NodeJS.ErrnoException).code === 'ENOENT') return RoutingRules.parse({}, '(defaults)');
      throw new RoutingRulesError(`cannot read routing rules ${f}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new RoutingRulesError(`routing rules ${f} are not JSON: ${(err as Error).message}`);
    }
    return RoutingRules.parse(json, f);
  }

  /** True for objects carpus made itself (its SR and SC): never analysed, never looped. */
  isOwnObject(sopClassUid: string, m: DicomJson): boolean {
    if (this.own.sopClasses.has(sopClassUid)) return true;
    const manufacturer = str(m, T.Manufacturer);
    if (manufacturer && this.own.manufacturers.has(manufacturer.trim().toLowerCase())) return true;
    if (this.own.privateCreators.size) {
      for (const [tag, el] of Object.entries(m)) {
        // Private creator elements: odd group, element 0010-00FF.
        const group = parseInt(tag.slice(0, 4), 16);
        const elem = parseInt(tag.slice(4), 16);
        if (group % 2 === 1 && elem >= 0x10 && elem <= 0xff) {
          const v = el?.Value?.[0];
          if (typeof v === 'string' && this.own.privateCreators.has(v.trim().toUpperCase())) return true;
        }
      }
    }
    return false;
  }

  evaluate(sopClassUid: string, m: DicomJson): RoutingDecision {
    if (!this.config.enabled) return { match: false, reason: 'auto-analysis disabled by the routing rules' };
    if (this.isOwnObject(sopClassUid, m)) return { match: false, reason: 'carpus result object' };
    if (!this.sopClasses.has(sopClassUid)) return { match: false, reason: `SOP class ${sopClassUid} is not an analysed image class` };
    const modality = (str(m, T.Modality) ?? '').trim().toUpperCase();
    if (!this.modalities.has(modality)) return { match: false, reason: `Modality "${modality}" not in ${[...this.modalities].join('/')}` };
    const body = str(m, T.BodyPartExamined);
    if (body && body.trim() !== '') {
      if (!this.bodyParts.has(norm(body))) return { match: false, reason: `BodyPartExamined "${body.trim().slice(0, 16)}" is not a hand` };
    } else if (!this.config.allowEmptyBodyPart) {
      return { match: false, reason: 'BodyPartExamined is empty' };
    }
    const desc = str(m, T.SeriesDescription) ?? '';
    if (this.include.length && !this.include.some((r) => r.test(desc))) return { match: false, reason: 'SeriesDescription matches no include pattern' };
    const ex = this.exclude.find((r) => r.test(desc));
    if (ex) return { match: false, reason: `SeriesDescription matches exclude pattern ${ex.source}` };
    return { match: true, reason: `${modality} ${body?.trim() || '(no body part)'}` };
  }
}
