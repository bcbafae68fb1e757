/**
 * The one place secrets are scrubbed from text b2betl shows or stores: log lines, errors,
 * `--json` output, the ledger's run history and the rejects table. Known shapes (bearer and
 * OAuth tokens, JWTs, private keys, URL passwords, cloud signatures and keys) are matched by
 * pattern; the secret values of every loaded connection are registered and scrubbed by value.
 */

/** A Secret Manager reference (`secret://projects/P/secrets/S…`, `projects/P/secrets/S/versions/V`): it names a secret, it is not one. */
const REFERENCE = /^"?(?:secret:\/\/)?projects\/[^/\s"]+\/secrets\/[^/\s"]+(?:\/versions\/[^/\s"]+)?"?$/;

const PATTERNS: readonly [RegExp, string | ((match: string, ...groups: string[]) => string)][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '***'],
  // An unquoted value stops at a quote or backslash, so that JSON text around it stays JSON. A key
  // that ends a YAML path (`connections.db.password: …`) names a setting, not a value.
  // A quoted value stays quoted; a Secret Manager reference is left as it is.
  [
    /((?<!\.)"?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("[^"]*"|[^\s,&}"'\\]+)/gi,
    (match, key, value) => (REFERENCE.test(value) ? match : `${key}${value.startsWith('"') ? '"***"' : '***'}`),
  ],
  [/Bearer\s+[\w.~+/=-]+/g, 'Bearer ***'],
  [/ya29\.[\w.~+/=-]+/g, '***'],
  [/eyJ[\w-]*\.[\w-]+\.[\w-]*/g, '***'],
  // user:password@ in any URL
  [/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)@/gi, '$1***@'],
  // Azure connection strings and SAS signatures
  [/(AccountKey|SharedAccessSignature)=[^;\s]+/gi, '$1=***'],
  [/([?&](?:sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=)[^&\s"']+/gi, '$1***'],
  // AWS request signatures and credential files
  [/\b((?:X-Amz-)?(?:Signature|Security-Token|Credential)=)[^&\s,]+/gi, '$1***'],
  [/(aws_secret_access_key|aws_session_token)(\s*=\s*)\S+/gi, '$1$2***'],
];

/** Registered values shorter than this are not scrubbed everywhere: they would blank ordinary words. */
const MIN_REGISTERED = 6;

const registered = new Set<string>();

/** Scrubs these values from every text redacted from now on in this process (a loaded config's secrets). */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) if (value && value.length >= MIN_REGISTERED) registered.add(value);
}

/** `text` with every known secret shape, every registered secret and each of `secrets` replaced by `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement as string);
  // Longest first, so a secret containing another is scrubbed whole.
  const values = [...secrets, ...registered].filter((value) => value.length > 0).sort((a, b) => b.length - a.length);
  for (const value of values) if (out.includes(value)) out = out.split(value).join('***');
  return out;
}

/** A copy of a JSON-like value with every string redacted (what `--json` prints). */
export function redactValue<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => redactValue(item)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactValue(item)])) as T;
  }
  return value;
}

/** Keys whose string value is a secret, in any connection's config. */
const SECRET_KEY = /password|secret|token|private_key|account_key|connection_string|sas_url|credentials/i;

/** The secret values of one connection's config: passwords, keys, tokens, URL passwords, inline credentials. */
export function secretsOf(config: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, key: string) => {
    if (typeof value === 'string') {
      if (SECRET_KEY.test(key)) {
        if (REFERENCE.test(value)) return;
        found.push(value);
        found.push(...innerSecrets(value));
      } else if (key === 'url') {
        found.push(...urlPasswords(value));
      }
    } else if (Array.isArray(value)) {
      for (const item of value) visit(item, key);
    } else if (value && typeof value === 'object') {
      for (const [name, item] of Object.entries(value)) visit(item, name);
    }
  };
  visit(config, '');
  return [...new Set(found)];
}

/** The password of a URL, plain and percent-decoded. */
function urlPasswords(text: string): string[] {
  try {
    const { password } = new URL(text);
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}

/** Secrets inside a secret value: an Azure connection string's key, inline JSON credentials' keys, a SAS URL's query. */
function innerSecrets(value: string): string[] {
  const out = [...urlPasswords(value)];
  const accountKey = /AccountKey=([^;]+)/i.exec(value)?.[1];
  if (accountKey) out.push(accountKey);
  const sas = /SharedAccessSignature=([^;]+)/i.exec(value)?.[1];
  if (sas) out.push(sas);
  if (/^https?:\/\/[^?]+\?.+/.test(value)) out.push(value.slice(value.indexOf('?') + 1));
  if (value.trim().startsWith('{')) {
    try {
      const parsed = JSON.parse(value) as Record<string, unknown>;
      for (const key of ['private_key', 'client_secret', 'refresh_token', 'access_token']) {
        if (typeof parsed[key] === 'string') out.push(parsed[key]);
      }
    } catch {
      // Not JSON: the value itself is the secret.
    }
  }
  return out;
}

let streamsRedacted = false;

/**
 * Makes every write to this process's stdout and stderr pass through {@link redact}: whatever a
 * command prints (log lines, summaries, tables, progress, errors) shows no secret, even text
 * built without redacting it first. Each write is scrubbed whole; the CLI writes whole lines.
 */
export function redactStandardStreams(): void {
  if (streamsRedacted) return;
  streamsRedacted = true;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string') return write(redact(chunk), ...rest);
      if (chunk instanceof Uint8Array) {
        const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
        const scrubbed = redact(text);
        return write(scrubbed === text ? chunk : scrubbed, ...(typeof rest[0] === 'string' ? rest.slice(1) : rest));
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
}
