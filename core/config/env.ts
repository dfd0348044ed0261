/**
 * `${env:NAME}` expansion in config values, as in the Collector: `$$` is a
 * literal `$`, `${env:NAME:-fallback}` falls back when NAME is unset.
 */

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const WHOLE = /^\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export interface Expansion {
  value: string;
  /** One message per bad or unset reference; `value` is meaningless when any. */
  errors: string[];
}

/**
 * Expands every reference in `text`.
 *
 * @example
 * expandEnv('${env:HOST}:9464', { HOST: '0.0.0.0' }); // { value: '0.0.0.0:9464', errors: [] }
 * expandEnv('cost: $$5', {}); // { value: 'cost: $5', errors: [] }
 */
export function expandEnv(text: string, env: Readonly<Record<string, string | undefined>>): Expansion {
  const errors: string[] = [];
  let value = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      value += text.slice(i);
      break;
    }
    value += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      value += '$';
      i = dollar + 2;
      continue;
    }
    if (next !== '{') {
      value += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar);
    if (close < 0) {
      errors.push(`unterminated reference "${text.slice(dollar)}": missing "}"`);
      break;
    }
    const reference = text.slice(dollar, close + 1);
    const inner = text.slice(dollar + 2, close);
    i = close + 1;
    if (!inner.startsWith('env:')) {
      errors.push(
        `unsupported reference "${reference}": only \${env:NAME} is supported (write $$ for a literal $)`,
      );
      continue;
    }
    const body = inner.slice(4);
    const fallbackAt = body.indexOf(':-');
    const name = fallbackAt < 0 ? body : body.slice(0, fallbackAt);
    if (!NAME.test(name)) {
      errors.push(`invalid environment variable name "${name}" in "${reference}"`);
      continue;
    }
    const found = env[name];
    if (found !== undefined) value += found;
    else if (fallbackAt >= 0) value += body.slice(fallbackAt + 2);
    else errors.push(`environment variable "${name}" is not set (referenced as "${reference}")`);
  }
  return { value, errors };
}

/** True when `text` is exactly one reference, so its expansion may be typed (number, boolean). */
export function isWholeReference(text: string): boolean {
  return WHOLE.test(text);
}
