/**
 * Credentials never leave the Authorization header: every URL and message that can reach an
 * error, a log or a description goes through these helpers first.
 */

const SENSITIVE_QUERY = /token|signature|sig|key|secret|credential|password|auth/i;

/** The URL with user:password and sensitive query values replaced by "***". */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url.replace(/\/\/[^/@\s]*@/, '//***@');
  }
  const sensitive = [...u.searchParams.keys()].filter((k) => SENSITIVE_QUERY.test(k));
  if (!u.username && !u.password && sensitive.length === 0) return url;
  if (u.username || u.password) {
    u.username = '***';
    u.password = '';
  }
  for (const key of sensitive) u.searchParams.set(key, '***');
  return u.href;
}

/** `text` with every occurrence of each secret replaced by "***". */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

/**
 * Splits "https://user:pass@host/path" into the URL without credentials and the HTTP Basic
 * Authorization header they stand for (fetch refuses URLs with credentials).
 */
export function splitUrlCredentials(url: string): { url: string; authorization?: string; secrets: string[] } {
  const u = new URL(url);
  if (!u.username && !u.password) return { url: u.href, secrets: [] };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)));
  return { url: u.href, authorization: `Basic ${basic}`, secrets: [pass, basic].filter((s) => s.length > 0) };
}
