import { DEFAULT_PROFILE_CLAIMS } from '../exchange/claims.ts';

/**
 * Presets for well-known providers whose access tokens are proven by calling the provider's user API
 * (the provider returns the account behind the token). Each fills `type`, `userApiUrl`,
 * `accountIdClaim`, request headers and the profile-claim mapping; every field can be overridden.
 * `type` is what Auth.js v5 reports in `account.type` for that provider.
 */
export interface ProviderPreset {
  type: 'oauth' | 'oidc';
  userApiUrl: string;
  accountIdClaim: string;
  headers: Record<string, string>;
  claims: Record<string, string>;
  /** GitHub only: base URL of the REST API (token-to-app binding, org and team lookups). */
  apiBaseUrl?: string;
}

export const OIDC_DEFAULT_CLAIMS: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(DEFAULT_PROFILE_CLAIMS.map((c) => [c, c])),
);

export const PRESETS: Readonly<Record<string, ProviderPreset>> = Object.freeze({
  github: {
    type: 'oauth',
    userApiUrl: 'https://api.github.com/user',
    accountIdClaim: 'id',
    // GitHub rejects requests without a User-Agent; pin the REST API version.
    headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'authjwt' },
    claims: { preferred_username: 'login', name: 'name', email: 'email' },
    apiBaseUrl: 'https://api.github.com',
  },
  gitlab: {
    type: 'oauth',
    userApiUrl: 'https://gitlab.com/api/v4/user',
    accountIdClaim: 'id',
    headers: { accept: 'application/json' },
    claims: { preferred_username: 'username', name: 'name', email: 'email' },
  },
  google: {
    type: 'oidc',
    userApiUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
    accountIdClaim: 'sub',
    headers: { accept: 'application/json' },
    claims: { ...OIDC_DEFAULT_CLAIMS },
  },
  microsoft: {
    type: 'oidc',
    userApiUrl: 'https://graph.microsoft.com/oidc/userinfo',
    accountIdClaim: 'sub',
    headers: { accept: 'application/json' },
    claims: { ...OIDC_DEFAULT_CLAIMS },
  },
});

export const PRESET_NAMES = Object.keys(PRESETS) as [string, ...string[]];
