/** Failures of Google Cloud APIs called through their clients (REST transport). */

/** The `error` object of a Google API answer. */
export interface ApiErrorBody {
  code?: number;
  message?: string;
  status?: string;
  details?: { reason?: string; metadata?: Record<string, string> }[];
}

/** The HTTP status and the `error` object of a failed call (gaxios over REST, or a GoogleError). */
export function apiFailure(error: unknown): { http?: number; body: ApiErrorBody; text: string } {
  const failure = (error ?? {}) as { status?: number; code?: number | string; message?: string; response?: { status?: number } };
  const text = failure.message ?? String(error);
  let body: ApiErrorBody = {};
  try {
    body = (JSON.parse(text) as { error?: ApiErrorBody }).error ?? {};
  } catch {
    // not a JSON body: a network error or a client-side failure
  }
  const http = failure.status ?? failure.response?.status ?? body.code ?? (typeof failure.code === 'number' && failure.code >= 100 ? failure.code : undefined);
  return { http, body, text: body.message ?? text };
}
