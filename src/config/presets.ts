/**
 * Presets for well-known providers whose access tokens are proven by calling the provider's user API
 * (the provider returns the account behind the token). Each fills `type`, `userinfoUrl`,
 * `accountIdField`, request headers and the profile-claim mapping; every field can be overridden.
 * `type` is what Auth.js reports in `account.type` for that provider.
 */
export interface ProviderPreset {
  type: 'oauth' | 'oidc';
  userinfoUrl: string;
  accountIdField: string;
  headers: Record<string, string>;
  claims: Record<string, string>;
  /** GitHub only: base URL of the REST API used to bind a token to our OAuth app. */
  apiBaseUrl?: string;
}

export const OIDC_DEFAULT_CLAIMS: Readonly<Record<string, string>> = Object.freeze({
  email: 'email',
  email_verified: 'email_verified',
  name: 'name',
  preferred_username: 'preferred_username',
  groups: 'groups',
});

export const PRESETS: Readonly<Record<string, ProviderPreset>> = Object.freeze({
  github: {
    type: 'oauth',
    userinfoUrl: 'https://api.github.com/user',
    accountIdField: 'id',
    // GitHub rejects requests without a User-Agent; pin the REST API version.
    headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'authjwt' },
    claims: { preferred_username: 'login', name: 'name', email: 'email' },
    apiBaseUrl: 'https://api.github.com',
  },
  gitlab: {
    type: 'oauth',
    userinfoUrl: 'https://gitlab.com/api/v4/user',
    accountIdField: 'id',
    headers: { accept: 'application/json' },
    claims: { preferred_username: 'username', name: 'name', email: 'email' },
  },
  google: {
    type: 'oidc',
    userinfoUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
    accountIdField: 'sub',
    headers: { accept: 'application/json' },
    claims: { ...OIDC_DEFAULT_CLAIMS },
  },
  microsoft: {
    type: 'oidc',
    userinfoUrl: 'https://graph.microsoft.com/oidc/userinfo',
    accountIdField: 'sub',
    headers: { accept: 'application/json' },
    claims: { ...OIDC_DEFAULT_CLAIMS },
  },
});

export const PRESET_NAMES = Object.keys(PRESETS) as [string, ...string[]];
