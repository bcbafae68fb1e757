/**
 * Verifying the Google-signed OIDC ID tokens Cloud Scheduler sends: the signature against
 * Google's published certificates (google-auth-library), the issuer, `exp`/`iat` with a small
 * clock skew, the audience, and a verified email among the allowed invokers. A refusal carries
 * a one-line reason for the log; the token itself is never logged.
 */
// @ts-nocheck

import type { OAuth2Client } from 'google-auth-library';

/** What a request's credentials prove. */
export type Verdict =
  | { readonly ok: true; readonly email: string }
  | { readonly ok: false; readonly status: 401 | 403 | 503; readonly reason: string };

/** The issuers Google signs ID tokens as. */
export const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];
/** Seconds a token's `exp` and `iat` may be off by (clocks drift; tokens live an hour). */
export const CLOCK_SKEW_S = 60;

/**
 * The environment variable of the test-only certificate hook: the URL that serves the PEM
 * certificates tokens are checked against, instead of Google's. Only a loopback URL
 * (127.0.0.1, localhost, [::1]) is honoured, so that it can never point verification at
 * another machine; job specs and the config cannot set it.
 */
export const TEST_CERTS_ENV = 'B2BETL_TEST_OIDC_CERTS_URL';

/** The test certificate URL, when the hook is set to a loopback address; a warning otherwise. */
export function testCertsUrl(env: NodeJS.ProcessEnv = process.env): { url?: string; warning?: string } {
  const value = env[TEST_CERTS_ENV];
  if (!value) return {};
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url && /^https?:$/.test(url.protocol) && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    return { url: url.href, warning: `${TEST_CERTS_ENV} is set: tokens are checked against the test certificates at ${url.href}, not Google's` };
  }
  return { warning: `${TEST_CERTS_ENV} is ignored: it must be a loopback URL (http://127.0.0.1:…); tokens are checked against Google's certificates` };
}

function refuse(status: 401 | 403 | 503, reason: string): Verdict {
  return { ok: false, status, reason };
}

/** The claims of a JWT without checking anything, for the reasons given in logs. */
function claimsOf(token: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Checks ID tokens for one audience and a set of allowed service accounts. */
export class TokenVerifier {
  private client?: OAuth2Client;
  private readonly invokers: ReadonlySet<string>;

  constructor(
    private readonly audience: string,
    invokers: readonly string[],
    private readonly certsUrl?: string,
  ) {
    this.invokers = new Set(invokers.map((email) => email.toLowerCase()));
  }

  private async oauth(): Promise<OAuth2Client> {
    if (!this.client) {
      const { OAuth2Client } = await import('google-auth-library');
      this.client = new OAuth2Client(this.certsUrl ? { endpoints: { oauth2FederatedSignonPemCertsUrl: this.certsUrl } } : {});
    }
    return this.client;
  }

  /** The verdict on an `Authorization` header. */
  async verify(authorization: string | undefined): Promise<Verdict> {
    if (!authorization) return refuse(401, 'no Authorization header');
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!bearer) return refuse(401, 'the Authorization header is not "Bearer <ID token>"');
    const token = bearer[1];
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) return refuse(401, 'malformed token: not a signed JWT');
    const claims = claimsOf(token);
    let payload: Record<string, unknown>;
    try {
      const client = await this.oauth();
      const ticket = await client.verifyIdToken({ idToken: token, audience: this.audience });
      payload = (ticket.getPayload() ?? {}) as Record<string, unknown>;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/Failed to retrieve verification certificates/.test(message)) return refuse(503, "cannot fetch Google's signing certificates to check the token");
      return refuse(401, this.reasonOf(message, claims));
    }
    const now = Date.now() / 1000;
    if (Number(payload.exp) + CLOCK_SKEW_S < now) return refuse(401, `expired token (exp ${new Date(Number(payload.exp) * 1000).toISOString()})`);
    if (Number(payload.iat) - CLOCK_SKEW_S > now) return refuse(401, `token issued in the future (iat ${new Date(Number(payload.iat) * 1000).toISOString()})`);
    const email = typeof payload.email === 'string' ? payload.email : '';
    if (!email) return refuse(403, 'the token carries no email claim (mint it for a service account)');
    if (payload.email_verified !== true && payload.email_verified !== 'true') return refuse(403, `the email ${email} is not verified`);
    if (!this.invokers.has(email.toLowerCase())) return refuse(403, `${email} is not in deploy.invokers`);
    return { ok: true, email };
  }

  private reasonOf(message: string, claims: Record<string, unknown>): string {
    if (/Token used too late/.test(message)) return `expired token (exp ${new Date(Number(claims.exp) * 1000).toISOString()})`;
    if (/Token used too early/.test(message)) return 'token issued in the future';
    if (/Wrong recipient/.test(message)) return `wrong audience ${JSON.stringify(claims.aud)}, expected ${JSON.stringify(this.audience)}`;
    if (/Invalid issuer/.test(message)) return `wrong issuer ${JSON.stringify(claims.iss)}, expected ${GOOGLE_ISSUERS[0]}`;
    if (/No pem found/.test(message)) return 'signed by a key that is not among the current Google certificates';
    if (/Invalid token signature/.test(message)) return 'bad signature';
    if (/too far in future/.test(message)) return 'token lifetime longer than a day';
    if (/No issue time|No expiration time|invalid format/.test(message)) return 'token without valid iat/exp';
    if (/parse token|segments/.test(message)) return 'malformed token';
    return 'invalid token';
  }
}
