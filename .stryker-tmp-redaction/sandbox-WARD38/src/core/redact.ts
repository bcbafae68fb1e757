/**
 * The one place secrets are scrubbed from text b2betl shows or stores: log lines, errors,
 * `--json` output, the ledger's run history and the rejects table. Known shapes (bearer and
 * OAuth tokens, JWTs, private keys, URL passwords, cloud signatures and keys) are matched by
 * pattern; the secret values of every loaded connection are registered and scrubbed by value.
 */
// @ts-nocheck
function stryNS_9fa48() {
  var g = typeof globalThis === 'object' && globalThis && globalThis.Math === Math && globalThis || new Function("return this")();
  var ns = g.__stryker__ || (g.__stryker__ = {});
  if (ns.activeMutant === undefined && g.process && g.process.env && g.process.env.__STRYKER_ACTIVE_MUTANT__) {
    ns.activeMutant = g.process.env.__STRYKER_ACTIVE_MUTANT__;
  }
  function retrieveNS() {
    return ns;
  }
  stryNS_9fa48 = retrieveNS;
  return retrieveNS();
}
stryNS_9fa48();
function stryCov_9fa48() {
  var ns = stryNS_9fa48();
  var cov = ns.mutantCoverage || (ns.mutantCoverage = {
    static: {},
    perTest: {}
  });
  function cover() {
    var c = cov.static;
    if (ns.currentTestId) {
      c = cov.perTest[ns.currentTestId] = cov.perTest[ns.currentTestId] || {};
    }
    var a = arguments;
    for (var i = 0; i < a.length; i++) {
      c[a[i]] = (c[a[i]] || 0) + 1;
    }
  }
  stryCov_9fa48 = cover;
  cover.apply(null, arguments);
}
function stryMutAct_9fa48(id) {
  var ns = stryNS_9fa48();
  function isActive(id) {
    if (ns.activeMutant === id) {
      if (ns.hitCount !== void 0 && ++ns.hitCount > ns.hitLimit) {
        throw new Error('Stryker: Hit count limit reached (' + ns.hitCount + ')');
      }
      return true;
    }
    return false;
  }
  stryMutAct_9fa48 = isActive;
  return isActive(id);
}
const PATTERNS: readonly [RegExp, string][] = stryMutAct_9fa48("0") ? [] : (stryCov_9fa48("0"), [stryMutAct_9fa48("1") ? [] : (stryCov_9fa48("1"), [stryMutAct_9fa48("10") ? /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [^A-Z ]*PRIVATE KEY-----|$)/g : stryMutAct_9fa48("9") ? /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]PRIVATE KEY-----|$)/g : stryMutAct_9fa48("8") ? /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----)/g : stryMutAct_9fa48("7") ? /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\s]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g : stryMutAct_9fa48("6") ? /-----BEGIN [A-Z ]*PRIVATE KEY-----[\S\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g : stryMutAct_9fa48("5") ? /-----BEGIN [A-Z ]*PRIVATE KEY-----[^\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g : stryMutAct_9fa48("4") ? /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S](-----END [A-Z ]*PRIVATE KEY-----|$)/g : stryMutAct_9fa48("3") ? /-----BEGIN [^A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g : stryMutAct_9fa48("2") ? /-----BEGIN [A-Z ]PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g : (stryCov_9fa48("2", "3", "4", "5", "6", "7", "8", "9", "10"), /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g), stryMutAct_9fa48("11") ? "" : (stryCov_9fa48("11"), '***')]), stryMutAct_9fa48("12") ? [] : (stryCov_9fa48("12"), [stryMutAct_9fa48("24") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("[^"]*"|[^\S,&}]+)/gi : stryMutAct_9fa48("23") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("[^"]*"|[\s,&}]+)/gi : stryMutAct_9fa48("22") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("[^"]*"|[^\s,&}])/gi : stryMutAct_9fa48("21") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("["]*"|[^\s,&}]+)/gi : stryMutAct_9fa48("20") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("[^"]"|[^\s,&}]+)/gi : stryMutAct_9fa48("19") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\S*)("[^"]*"|[^\s,&}]+)/gi : stryMutAct_9fa48("18") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s)("[^"]*"|[^\s,&}]+)/gi : stryMutAct_9fa48("17") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[^:=]\s*)("[^"]*"|[^\s,&}]+)/gi : stryMutAct_9fa48("16") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\S*[:=]\s*)("[^"]*"|[^\s,&}]+)/gi : stryMutAct_9fa48("15") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s[:=]\s*)("[^"]*"|[^\s,&}]+)/gi : stryMutAct_9fa48("14") ? /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"\s*[:=]\s*)("[^"]*"|[^\s,&}]+)/gi : stryMutAct_9fa48("13") ? /("(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("[^"]*"|[^\s,&}]+)/gi : (stryCov_9fa48("13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24"), /("?(?:private_key|client_secret|refresh_token|access_token|id_token|password)"?\s*[:=]\s*)("[^"]*"|[^\s,&}]+)/gi), stryMutAct_9fa48("25") ? "" : (stryCov_9fa48("25"), '$1***')]), stryMutAct_9fa48("26") ? [] : (stryCov_9fa48("26"), [stryMutAct_9fa48("31") ? /Bearer\s+[\W.~+/=-]+/g : stryMutAct_9fa48("30") ? /Bearer\s+[^\w.~+/=-]+/g : stryMutAct_9fa48("29") ? /Bearer\s+[\w.~+/=-]/g : stryMutAct_9fa48("28") ? /Bearer\S+[\w.~+/=-]+/g : stryMutAct_9fa48("27") ? /Bearer\s[\w.~+/=-]+/g : (stryCov_9fa48("27", "28", "29", "30", "31"), /Bearer\s+[\w.~+/=-]+/g), stryMutAct_9fa48("32") ? "" : (stryCov_9fa48("32"), 'Bearer ***')]), stryMutAct_9fa48("33") ? [] : (stryCov_9fa48("33"), [stryMutAct_9fa48("36") ? /ya29\.[\W.~+/=-]+/g : stryMutAct_9fa48("35") ? /ya29\.[^\w.~+/=-]+/g : stryMutAct_9fa48("34") ? /ya29\.[\w.~+/=-]/g : (stryCov_9fa48("34", "35", "36"), /ya29\.[\w.~+/=-]+/g), stryMutAct_9fa48("37") ? "" : (stryCov_9fa48("37"), '***')]), stryMutAct_9fa48("38") ? [] : (stryCov_9fa48("38"), [stryMutAct_9fa48("47") ? /eyJ[\w-]*\.[\w-]+\.[\W-]*/g : stryMutAct_9fa48("46") ? /eyJ[\w-]*\.[\w-]+\.[^\w-]*/g : stryMutAct_9fa48("45") ? /eyJ[\w-]*\.[\w-]+\.[\w-]/g : stryMutAct_9fa48("44") ? /eyJ[\w-]*\.[\W-]+\.[\w-]*/g : stryMutAct_9fa48("43") ? /eyJ[\w-]*\.[^\w-]+\.[\w-]*/g : stryMutAct_9fa48("42") ? /eyJ[\w-]*\.[\w-]\.[\w-]*/g : stryMutAct_9fa48("41") ? /eyJ[\W-]*\.[\w-]+\.[\w-]*/g : stryMutAct_9fa48("40") ? /eyJ[^\w-]*\.[\w-]+\.[\w-]*/g : stryMutAct_9fa48("39") ? /eyJ[\w-]\.[\w-]+\.[\w-]*/g : (stryCov_9fa48("39", "40", "41", "42", "43", "44", "45", "46", "47"), /eyJ[\w-]*\.[\w-]+\.[\w-]*/g), stryMutAct_9fa48("48") ? "" : (stryCov_9fa48("48"), '***')]), // user:password@ in any URL
stryMutAct_9fa48("49") ? [] : (stryCov_9fa48("49"), [stryMutAct_9fa48("58") ? /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\S]*)@/gi : stryMutAct_9fa48("57") ? /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([@\s]*)@/gi : stryMutAct_9fa48("56") ? /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s])@/gi : stryMutAct_9fa48("55") ? /([a-z][a-z0-9+.-]*:\/\/[^:/@\S]*:)([^@\s]*)@/gi : stryMutAct_9fa48("54") ? /([a-z][a-z0-9+.-]*:\/\/[:/@\s]*:)([^@\s]*)@/gi : stryMutAct_9fa48("53") ? /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]:)([^@\s]*)@/gi : stryMutAct_9fa48("52") ? /([a-z][^a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)@/gi : stryMutAct_9fa48("51") ? /([a-z][a-z0-9+.-]:\/\/[^:/@\s]*:)([^@\s]*)@/gi : stryMutAct_9fa48("50") ? /([^a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)@/gi : (stryCov_9fa48("50", "51", "52", "53", "54", "55", "56", "57", "58"), /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)@/gi), stryMutAct_9fa48("59") ? "" : (stryCov_9fa48("59"), '$1***@')]), // Azure connection strings and SAS signatures
stryMutAct_9fa48("60") ? [] : (stryCov_9fa48("60"), [stryMutAct_9fa48("63") ? /(AccountKey|SharedAccessSignature)=[^;\S]+/gi : stryMutAct_9fa48("62") ? /(AccountKey|SharedAccessSignature)=[;\s]+/gi : stryMutAct_9fa48("61") ? /(AccountKey|SharedAccessSignature)=[^;\s]/gi : (stryCov_9fa48("61", "62", "63"), /(AccountKey|SharedAccessSignature)=[^;\s]+/gi), stryMutAct_9fa48("64") ? "" : (stryCov_9fa48("64"), '$1=***')]), stryMutAct_9fa48("65") ? [] : (stryCov_9fa48("65"), [stryMutAct_9fa48("69") ? /([?&](?:sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=)[^&\S"']+/gi : stryMutAct_9fa48("68") ? /([?&](?:sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=)[&\s"']+/gi : stryMutAct_9fa48("67") ? /([?&](?:sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=)[^&\s"']/gi : stryMutAct_9fa48("66") ? /([^?&](?:sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=)[^&\s"']+/gi : (stryCov_9fa48("66", "67", "68", "69"), /([?&](?:sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=)[^&\s"']+/gi), stryMutAct_9fa48("70") ? "" : (stryCov_9fa48("70"), '$1***')]), // AWS request signatures and credential files
stryMutAct_9fa48("71") ? [] : (stryCov_9fa48("71"), [stryMutAct_9fa48("75") ? /\b((?:X-Amz-)?(?:Signature|Security-Token|Credential)=)[^&\S,]+/gi : stryMutAct_9fa48("74") ? /\b((?:X-Amz-)?(?:Signature|Security-Token|Credential)=)[&\s,]+/gi : stryMutAct_9fa48("73") ? /\b((?:X-Amz-)?(?:Signature|Security-Token|Credential)=)[^&\s,]/gi : stryMutAct_9fa48("72") ? /\b((?:X-Amz-)(?:Signature|Security-Token|Credential)=)[^&\s,]+/gi : (stryCov_9fa48("72", "73", "74", "75"), /\b((?:X-Amz-)?(?:Signature|Security-Token|Credential)=)[^&\s,]+/gi), stryMutAct_9fa48("76") ? "" : (stryCov_9fa48("76"), '$1***')]), stryMutAct_9fa48("77") ? [] : (stryCov_9fa48("77"), [stryMutAct_9fa48("83") ? /(aws_secret_access_key|aws_session_token)(\s*=\s*)\s+/gi : stryMutAct_9fa48("82") ? /(aws_secret_access_key|aws_session_token)(\s*=\s*)\S/gi : stryMutAct_9fa48("81") ? /(aws_secret_access_key|aws_session_token)(\s*=\S*)\S+/gi : stryMutAct_9fa48("80") ? /(aws_secret_access_key|aws_session_token)(\s*=\s)\S+/gi : stryMutAct_9fa48("79") ? /(aws_secret_access_key|aws_session_token)(\S*=\s*)\S+/gi : stryMutAct_9fa48("78") ? /(aws_secret_access_key|aws_session_token)(\s=\s*)\S+/gi : (stryCov_9fa48("78", "79", "80", "81", "82", "83"), /(aws_secret_access_key|aws_session_token)(\s*=\s*)\S+/gi), stryMutAct_9fa48("84") ? "" : (stryCov_9fa48("84"), '$1$2***')])]);

/** Registered values shorter than this are not scrubbed everywhere: they would blank ordinary words. */
const MIN_REGISTERED = 6;
const registered = new Set<string>();

/** Scrubs these values from every text redacted from now on in this process (a loaded config's secrets). */
export function registerSecrets(values: Iterable<string | undefined>): void {
  if (stryMutAct_9fa48("85")) {
    {}
  } else {
    stryCov_9fa48("85");
    for (const value of values) if (stryMutAct_9fa48("88") ? value || value.length >= MIN_REGISTERED : stryMutAct_9fa48("87") ? false : stryMutAct_9fa48("86") ? true : (stryCov_9fa48("86", "87", "88"), value && (stryMutAct_9fa48("91") ? value.length < MIN_REGISTERED : stryMutAct_9fa48("90") ? value.length > MIN_REGISTERED : stryMutAct_9fa48("89") ? true : (stryCov_9fa48("89", "90", "91"), value.length >= MIN_REGISTERED)))) registered.add(value);
  }
}

/** `text` with every known secret shape, every registered secret and each of `secrets` replaced by `***`. */
export function redact(text: string, secrets: readonly string[] = stryMutAct_9fa48("92") ? ["Stryker was here"] : (stryCov_9fa48("92"), [])): string {
  if (stryMutAct_9fa48("93")) {
    {}
  } else {
    stryCov_9fa48("93");
    let out = text;
    for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
    // Longest first, so a secret containing another is scrubbed whole.
    const values = stryMutAct_9fa48("95") ? [...secrets, ...registered].sort((a, b) => b.length - a.length) : stryMutAct_9fa48("94") ? [...secrets, ...registered].filter(value => value.length > 0) : (stryCov_9fa48("94", "95"), (stryMutAct_9fa48("96") ? [] : (stryCov_9fa48("96"), [...secrets, ...registered])).filter(stryMutAct_9fa48("97") ? () => undefined : (stryCov_9fa48("97"), value => stryMutAct_9fa48("101") ? value.length <= 0 : stryMutAct_9fa48("100") ? value.length >= 0 : stryMutAct_9fa48("99") ? false : stryMutAct_9fa48("98") ? true : (stryCov_9fa48("98", "99", "100", "101"), value.length > 0))).sort(stryMutAct_9fa48("102") ? () => undefined : (stryCov_9fa48("102"), (a, b) => stryMutAct_9fa48("103") ? b.length + a.length : (stryCov_9fa48("103"), b.length - a.length))));
    for (const value of values) if (stryMutAct_9fa48("105") ? false : stryMutAct_9fa48("104") ? true : (stryCov_9fa48("104", "105"), out.includes(value))) out = out.split(value).join(stryMutAct_9fa48("106") ? "" : (stryCov_9fa48("106"), '***'));
    return out;
  }
}

/** A copy of a JSON-like value with every string redacted (what `--json` prints). */
export function redactValue<T>(value: T): T {
  if (stryMutAct_9fa48("107")) {
    {}
  } else {
    stryCov_9fa48("107");
    if (stryMutAct_9fa48("110") ? typeof value !== 'string' : stryMutAct_9fa48("109") ? false : stryMutAct_9fa48("108") ? true : (stryCov_9fa48("108", "109", "110"), typeof value === (stryMutAct_9fa48("111") ? "" : (stryCov_9fa48("111"), 'string')))) return redact(value) as T;
    if (stryMutAct_9fa48("113") ? false : stryMutAct_9fa48("112") ? true : (stryCov_9fa48("112", "113"), Array.isArray(value))) return value.map((item: unknown) => redactValue(item)) as T;
    if (stryMutAct_9fa48("116") ? value && typeof value === 'object' || Object.getPrototypeOf(value) === Object.prototype : stryMutAct_9fa48("115") ? false : stryMutAct_9fa48("114") ? true : (stryCov_9fa48("114", "115", "116"), (stryMutAct_9fa48("118") ? value || typeof value === 'object' : stryMutAct_9fa48("117") ? true : (stryCov_9fa48("117", "118"), value && (stryMutAct_9fa48("120") ? typeof value !== 'object' : stryMutAct_9fa48("119") ? true : (stryCov_9fa48("119", "120"), typeof value === (stryMutAct_9fa48("121") ? "" : (stryCov_9fa48("121"), 'object')))))) && (stryMutAct_9fa48("123") ? Object.getPrototypeOf(value) !== Object.prototype : stryMutAct_9fa48("122") ? true : (stryCov_9fa48("122", "123"), Object.getPrototypeOf(value) === Object.prototype)))) {
      if (stryMutAct_9fa48("124")) {
        {}
      } else {
        stryCov_9fa48("124");
        return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactValue(item)])) as T;
      }
    }
    return value;
  }
}

/** Keys whose string value is a secret, in any connection's config. */
const SECRET_KEY = /password|secret|token|private_key|account_key|connection_string|sas_url|credentials/i;

/** The secret values of one connection's config: passwords, keys, tokens, URL passwords, inline credentials. */
export function secretsOf(config: unknown): string[] {
  if (stryMutAct_9fa48("125")) {
    {}
  } else {
    stryCov_9fa48("125");
    const found: string[] = stryMutAct_9fa48("126") ? ["Stryker was here"] : (stryCov_9fa48("126"), []);
    const visit = (value: unknown, key: string) => {
      if (stryMutAct_9fa48("127")) {
        {}
      } else {
        stryCov_9fa48("127");
        if (stryMutAct_9fa48("130") ? typeof value !== 'string' : stryMutAct_9fa48("129") ? false : stryMutAct_9fa48("128") ? true : (stryCov_9fa48("128", "129", "130"), typeof value === (stryMutAct_9fa48("131") ? "" : (stryCov_9fa48("131"), 'string')))) {
          if (stryMutAct_9fa48("132")) {
            {}
          } else {
            stryCov_9fa48("132");
            if (stryMutAct_9fa48("134") ? false : stryMutAct_9fa48("133") ? true : (stryCov_9fa48("133", "134"), SECRET_KEY.test(key))) {
              if (stryMutAct_9fa48("135")) {
                {}
              } else {
                stryCov_9fa48("135");
                found.push(value);
                found.push(...innerSecrets(value));
              }
            } else if (stryMutAct_9fa48("138") ? key !== 'url' : stryMutAct_9fa48("137") ? false : stryMutAct_9fa48("136") ? true : (stryCov_9fa48("136", "137", "138"), key === (stryMutAct_9fa48("139") ? "" : (stryCov_9fa48("139"), 'url')))) {
              if (stryMutAct_9fa48("140")) {
                {}
              } else {
                stryCov_9fa48("140");
                found.push(...urlPasswords(value));
              }
            }
          }
        } else if (stryMutAct_9fa48("142") ? false : stryMutAct_9fa48("141") ? true : (stryCov_9fa48("141", "142"), Array.isArray(value))) {
          if (stryMutAct_9fa48("143")) {
            {}
          } else {
            stryCov_9fa48("143");
            for (const item of value) visit(item, key);
          }
        } else if (stryMutAct_9fa48("146") ? value || typeof value === 'object' : stryMutAct_9fa48("145") ? false : stryMutAct_9fa48("144") ? true : (stryCov_9fa48("144", "145", "146"), value && (stryMutAct_9fa48("148") ? typeof value !== 'object' : stryMutAct_9fa48("147") ? true : (stryCov_9fa48("147", "148"), typeof value === (stryMutAct_9fa48("149") ? "" : (stryCov_9fa48("149"), 'object')))))) {
          if (stryMutAct_9fa48("150")) {
            {}
          } else {
            stryCov_9fa48("150");
            for (const [name, item] of Object.entries(value)) visit(item, name);
          }
        }
      }
    };
    visit(config, stryMutAct_9fa48("151") ? "Stryker was here!" : (stryCov_9fa48("151"), ''));
    return stryMutAct_9fa48("152") ? [] : (stryCov_9fa48("152"), [...new Set(found)]);
  }
}

/** The password of a URL, plain and percent-decoded. */
function urlPasswords(text: string): string[] {
  if (stryMutAct_9fa48("153")) {
    {}
  } else {
    stryCov_9fa48("153");
    try {
      if (stryMutAct_9fa48("154")) {
        {}
      } else {
        stryCov_9fa48("154");
        const {
          password
        } = new URL(text);
        return password ? stryMutAct_9fa48("155") ? [] : (stryCov_9fa48("155"), [password, decodeURIComponent(password)]) : stryMutAct_9fa48("156") ? ["Stryker was here"] : (stryCov_9fa48("156"), []);
      }
    } catch {
      if (stryMutAct_9fa48("157")) {
        {}
      } else {
        stryCov_9fa48("157");
        return stryMutAct_9fa48("158") ? ["Stryker was here"] : (stryCov_9fa48("158"), []);
      }
    }
  }
}

/** Secrets inside a secret value: an Azure connection string's key, inline JSON credentials' keys, a SAS URL's query. */
function innerSecrets(value: string): string[] {
  if (stryMutAct_9fa48("159")) {
    {}
  } else {
    stryCov_9fa48("159");
    const out = stryMutAct_9fa48("160") ? [] : (stryCov_9fa48("160"), [...urlPasswords(value)]);
    const accountKey = stryMutAct_9fa48("161") ? /AccountKey=([^;]+)/i.exec(value)[1] : (stryCov_9fa48("161"), (stryMutAct_9fa48("163") ? /AccountKey=([;]+)/i : stryMutAct_9fa48("162") ? /AccountKey=([^;])/i : (stryCov_9fa48("162", "163"), /AccountKey=([^;]+)/i)).exec(value)?.[1]);
    if (stryMutAct_9fa48("165") ? false : stryMutAct_9fa48("164") ? true : (stryCov_9fa48("164", "165"), accountKey)) out.push(accountKey);
    const sas = stryMutAct_9fa48("166") ? /SharedAccessSignature=([^;]+)/i.exec(value)[1] : (stryCov_9fa48("166"), (stryMutAct_9fa48("168") ? /SharedAccessSignature=([;]+)/i : stryMutAct_9fa48("167") ? /SharedAccessSignature=([^;])/i : (stryCov_9fa48("167", "168"), /SharedAccessSignature=([^;]+)/i)).exec(value)?.[1]);
    if (stryMutAct_9fa48("170") ? false : stryMutAct_9fa48("169") ? true : (stryCov_9fa48("169", "170"), sas)) out.push(sas);
    if (stryMutAct_9fa48("172") ? false : stryMutAct_9fa48("171") ? true : (stryCov_9fa48("171", "172"), (stryMutAct_9fa48("177") ? /^https?:\/\/[^?]+\?./ : stryMutAct_9fa48("176") ? /^https?:\/\/[?]+\?.+/ : stryMutAct_9fa48("175") ? /^https?:\/\/[^?]\?.+/ : stryMutAct_9fa48("174") ? /^https:\/\/[^?]+\?.+/ : stryMutAct_9fa48("173") ? /https?:\/\/[^?]+\?.+/ : (stryCov_9fa48("173", "174", "175", "176", "177"), /^https?:\/\/[^?]+\?.+/)).test(value))) out.push(stryMutAct_9fa48("178") ? value : (stryCov_9fa48("178"), value.slice(stryMutAct_9fa48("179") ? value.indexOf('?') - 1 : (stryCov_9fa48("179"), value.indexOf(stryMutAct_9fa48("180") ? "" : (stryCov_9fa48("180"), '?')) + 1))));
    if (stryMutAct_9fa48("184") ? value.startsWith('{') : stryMutAct_9fa48("183") ? value.trim().endsWith('{') : stryMutAct_9fa48("182") ? false : stryMutAct_9fa48("181") ? true : (stryCov_9fa48("181", "182", "183", "184"), value.trim().startsWith(stryMutAct_9fa48("185") ? "" : (stryCov_9fa48("185"), '{')))) {
      if (stryMutAct_9fa48("186")) {
        {}
      } else {
        stryCov_9fa48("186");
        try {
          if (stryMutAct_9fa48("187")) {
            {}
          } else {
            stryCov_9fa48("187");
            const parsed = JSON.parse(value) as Record<string, unknown>;
            for (const key of stryMutAct_9fa48("188") ? [] : (stryCov_9fa48("188"), [stryMutAct_9fa48("189") ? "" : (stryCov_9fa48("189"), 'private_key'), stryMutAct_9fa48("190") ? "" : (stryCov_9fa48("190"), 'client_secret'), stryMutAct_9fa48("191") ? "" : (stryCov_9fa48("191"), 'refresh_token'), stryMutAct_9fa48("192") ? "" : (stryCov_9fa48("192"), 'access_token')])) {
              if (stryMutAct_9fa48("193")) {
                {}
              } else {
                stryCov_9fa48("193");
                if (stryMutAct_9fa48("196") ? typeof parsed[key] !== 'string' : stryMutAct_9fa48("195") ? false : stryMutAct_9fa48("194") ? true : (stryCov_9fa48("194", "195", "196"), typeof parsed[key] === (stryMutAct_9fa48("197") ? "" : (stryCov_9fa48("197"), 'string')))) out.push(parsed[key]);
              }
            }
          }
        } catch {
          // Not JSON: the value itself is the secret.
        }
      }
    }
    return out;
  }
}
let streamsRedacted = stryMutAct_9fa48("198") ? true : (stryCov_9fa48("198"), false);

/**
 * Makes every write to this process's stdout and stderr pass through {@link redact}: whatever a
 * command prints (log lines, summaries, tables, progress, errors) shows no secret, even text
 * built without redacting it first. Each write is scrubbed whole; the CLI writes whole lines.
 */
export function redactStandardStreams(): void {
  if (stryMutAct_9fa48("199")) {
    {}
  } else {
    stryCov_9fa48("199");
    if (stryMutAct_9fa48("201") ? false : stryMutAct_9fa48("200") ? true : (stryCov_9fa48("200", "201"), streamsRedacted)) return;
    streamsRedacted = stryMutAct_9fa48("202") ? false : (stryCov_9fa48("202"), true);
    for (const stream of stryMutAct_9fa48("203") ? [] : (stryCov_9fa48("203"), [process.stdout, process.stderr])) {
      if (stryMutAct_9fa48("204")) {
        {}
      } else {
        stryCov_9fa48("204");
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
  }
}