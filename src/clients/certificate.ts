import { X509Certificate } from 'node:crypto';

/**
 * The identity a client certificate carries, for RFC 8705 `tls_client_auth`: its SPIFFE ID (an
 * X509-SVID has exactly one URI SAN, `spiffe://…`), its URI and DNS SANs and its subject. Read from the
 * certificate only after the TLS layer verified its chain against the trust bundle.
 */
export interface CertificateIdentity {
  /** The one `spiffe://` URI SAN; undefined when there is none, or several URI SANs (not an X509-SVID). */
  spiffeId: string | undefined;
  uris: readonly string[];
  dnsNames: readonly string[];
  /** Subject attributes, most specific first (RFC 4514 order), as `TYPE=value` with TYPE upper-case. */
  subject: readonly string[];
  /** ms since epoch. */
  notBefore: number;
  notAfter: number;
}

const MAX_SAN_ENTRIES = 64;

export function certificateIdentity(der: Buffer): CertificateIdentity {
  const cert = new X509Certificate(der);
  const sans = parseSubjectAltName(cert.subjectAltName ?? '');
  const uris = sans.filter((s) => s.type === 'URI').map((s) => s.value);
  const dnsNames = sans.filter((s) => s.type === 'DNS').map((s) => s.value);
  const spiffe = uris.filter((u) => u.startsWith('spiffe://'));
  return {
    // X509-SVID §2: exactly one URI SAN, the SPIFFE ID.
    spiffeId: spiffe.length === 1 && uris.length === 1 ? spiffe[0] : undefined,
    uris,
    dnsNames,
    // Node lists the subject in certificate order (least specific first), one attribute per line.
    subject: cert.subject.split('\n').filter(Boolean).map(normalizeAttribute).reverse(),
    notBefore: cert.validFromDate.getTime(),
    notAfter: cert.validToDate.getTime(),
  };
}

/**
 * Node's `subjectAltName`: `DNS:a.example, URI:spiffe://td/x, IP Address:10.0.0.1`; a value with a comma,
 * quote or control character is JSON-quoted (since CVE-2021-44532), so splitting is unambiguous.
 */
function parseSubjectAltName(text: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  let rest = text;
  while (rest.length > 0 && out.length < MAX_SAN_ENTRIES) {
    const colon = rest.indexOf(':');
    if (colon < 0) break;
    const type = rest.slice(0, colon).trim();
    rest = rest.slice(colon + 1);
    let value: string;
    if (rest.startsWith('"')) {
      const end = closingQuote(rest);
      try {
        value = JSON.parse(rest.slice(0, end + 1)) as string;
      } catch {
        break;
      }
      rest = rest.slice(end + 1);
    } else {
      const comma = rest.indexOf(', ');
      value = comma < 0 ? rest : rest.slice(0, comma);
      rest = comma < 0 ? '' : rest.slice(comma);
    }
    out.push({ type, value });
    rest = rest.replace(/^, /, '');
  }
  return out;
}

function closingQuote(s: string): number {
  for (let i = 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i;
  }
  return s.length - 1;
}

/** `TYPE=value`, TYPE upper-case, the value with RFC 4514 escapes (`\,`, `\+`, `\XX`…) undone, as Node and a config write them. */
function normalizeAttribute(attribute: string): string {
  const eq = attribute.indexOf('=');
  if (eq < 0) return attribute;
  const bytes: number[] = [];
  const value = attribute.slice(eq + 1);
  for (let i = 0; i < value.length; i++) {
    const hex = value[i] === '\\' ? /^[0-9A-Fa-f]{2}/.exec(value.slice(i + 1)) : null;
    if (hex) {
      bytes.push(Number.parseInt(hex[0], 16));
      i += 2;
    } else {
      if (value[i] === '\\' && i + 1 < value.length) i++;
      bytes.push(...Buffer.from(value[i]!, 'utf8'));
    }
  }
  return `${attribute.slice(0, eq).trim().toUpperCase()}=${Buffer.from(bytes).toString('utf8')}`;
}

/**
 * A configured `subjectDn` (RFC 4514: `CN=orders,O=acme`, most specific first; `\,` escapes a comma) as
 * the attribute list {@link certificateIdentity} produces.
 */
export function parseSubjectDn(dn: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i]!;
    if (ch === '\\' && i + 1 < dn.length) {
      // Kept escaped: normalizeAttribute undoes escapes of the value once split.
      current += ch + dn[++i];
    } else if (ch === ',') {
      out.push(normalizeAttribute(current.trim()));
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(normalizeAttribute(current.trim()));
  return out;
}

/** The Istio / SPIRE Kubernetes convention `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`. */
export function kubernetesOfSpiffeId(spiffeId: string): { namespace: string; serviceAccount: string } | undefined {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(spiffeId);
  return m ? { namespace: m[1]!, serviceAccount: m[2]! } : undefined;
}
