/**
 * OTel -> Prometheus name translation, after the OpenTelemetry specification's
 * "Prometheus and OpenMetrics compatibility" rules: dots and other invalid
 * characters become underscores, the UCUM unit becomes a suffix (`By` ->
 * `_bytes`, `s` -> `_seconds`; annotations such as `{connection}` and the unit
 * `1` add nothing), and monotonic counters end in `_total`.
 */

/** Prometheus spellings of the UCUM units the agent uses. */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  bit: 'bits',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  min: 'minutes',
  h: 'hours',
  d: 'days',
  Hz: 'hertz',
  '%': 'percent',
};

const PER_WORDS: Readonly<Record<string, string>> = { s: 'second', min: 'minute', h: 'hour', d: 'day' };

/**
 * The Prometheus unit word for a UCUM unit, or '' when the unit adds no suffix.
 *
 * @example
 * prometheusUnit('By'); // 'bytes'
 * prometheusUnit('By/s'); // 'bytes_per_second'
 * prometheusUnit('{connection}'); // ''
 */
export function prometheusUnit(unit: string): string {
  const plain = unit.replace(/\{[^}]*\}/g, '').trim();
  if (plain === '' || plain === '1') return '';
  const slash = plain.indexOf('/');
  if (slash >= 0) {
    const num = plain.slice(0, slash);
    const den = plain.slice(slash + 1);
    const numWord = num === '' || num === '1' ? '' : (UNIT_WORDS[num] ?? sanitizeName(num));
    const denWord = PER_WORDS[den] ?? sanitizeName(den);
    if (denWord === '') return numWord;
    return numWord === '' ? `per_${denWord}` : `${numWord}_per_${denWord}`;
  }
  return UNIT_WORDS[plain] ?? sanitizeName(plain);
}

/** Replaces every character outside `[a-zA-Z0-9_:]` by `_`, collapses runs of `_`, and keeps the first character legal. */
export function sanitizeName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/__+/g, '_');
  if (/^[0-9]/.test(out)) out = `_${out}`;
  return out;
}

/**
 * A label name from an attribute key: invalid characters become `_` and a
 * leading digit gets a `key_` prefix (`component.id` -> `component_id`).
 */
export function prometheusLabelName(key: string): string {
  let out = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (out === '') return 'key_';
  if (/^[0-9]/.test(out)) out = `key_${out}`;
  return out;
}

export type InstrumentType = 'counter' | 'gauge' | 'histogram';

/** Names of one metric family in Prometheus form. */
export interface PrometheusNames {
  /**
   * The family name: what `# TYPE` names in OpenMetrics, and the sample name
   * before the `_total`, `_bucket`... suffixes.
   */
  family: string;
  /** The unit word when the family name ends with it ('' otherwise): OpenMetrics' `# UNIT`. */
  unit: string;
  /** The name of the value sample: `family_total` for counters, the family itself otherwise. */
  sample: string;
}

/**
 * Translates an OTel instrument name and unit.
 *
 * @example
 * prometheusNames('loggerhead.link.bytes', 'By', 'counter');
 * // { family: 'loggerhead_link_bytes', unit: 'bytes', sample: 'loggerhead_link_bytes_total' }
 */
export function prometheusNames(name: string, unit: string, type: InstrumentType): PrometheusNames {
  let family = sanitizeName(name);
  if (type === 'counter' && family.endsWith('_total')) family = family.slice(0, -'_total'.length);
  const unitWord = prometheusUnit(unit);
  if (unitWord !== '' && !family.endsWith(`_${unitWord}`)) family = `${family}_${unitWord}`;
  return { family, unit: unitWord, sample: type === 'counter' ? `${family}_total` : family };
}
