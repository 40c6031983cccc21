import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAuthJwtError } from '../../../src/errors.ts';
import { checkStatus } from '../../../src/providers/user-api/status.ts';

const TOKEN = 'gho_secretTokenValue1234567890abcdefgh';

async function refusal(response: Response) {
  try {
    await checkStatus(response, 'user API', TOKEN);
  } catch (error) {
    assert.ok(isAuthJwtError(error), String(error));
    return error;
  }
  assert.fail('checkStatus accepted a refusal');
}

describe('user API status', () => {
  it('a refusal quotes the provider, never the token it echoes', async () => {
    const echoed = JSON.stringify({ message: 'Bad credentials', request: { authorization: `Bearer ${TOKEN}` } });
    const error = await refusal(new Response(echoed, { status: 401 }));
    assert.equal(error.code, 'ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER');
    assert.match(error.detail ?? '', /user API status 401: .*Bad credentials.*Bearer \[token\]/);
    assert.ok(!(error.detail ?? '').includes(TOKEN.slice(4, 20)));
  });

  it('rate limits and provider faults carry no provider text', async () => {
    const limited = await refusal(new Response(TOKEN, { status: 403, headers: { 'x-ratelimit-remaining': '0' } }));
    assert.equal(limited.code, 'ERR_AUTHJWT_PROVIDER_RATE_LIMITED');
    const fault = await refusal(new Response(TOKEN, { status: 502 }));
    assert.equal(fault.code, 'ERR_AUTHJWT_PROVIDER_BAD_STATUS');
    for (const e of [limited, fault]) assert.ok(!(e.detail ?? '').includes(TOKEN));
  });

  it('2xx passes', async () => {
    await checkStatus(new Response('{}', { status: 200 }), 'user API', TOKEN);
  });
});
