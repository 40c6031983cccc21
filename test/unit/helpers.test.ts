/**
 * The test helpers that decide whether a run is trustworthy: a missing prerequisite skips only when CI
 * is not set, and waitFor polls until its condition holds or fails in bounded time.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { missingPrerequisite, requirePrerequisite } from '../helpers/prerequisite.ts';
import { waitFor } from '../helpers/wait-for.ts';

describe('missingPrerequisite / requirePrerequisite', () => {
  const ci = process.env.CI;
  let warn: ReturnType<typeof mock.method>;
  beforeEach(() => {
    warn = mock.method(console, 'warn', () => {});
  });
  afterEach(() => {
    warn.mock.restore();
    if (ci === undefined) delete process.env.CI;
    else process.env.CI = ci;
  });

  it('with CI set: throws, naming the reason, and never skips', () => {
    process.env.CI = 'true';
    const skip = mock.fn();
    assert.throws(() => missingPrerequisite('suite A', 'helm not found'), /helm not found \(CI is set: suite A may not be skipped\)/);
    assert.throws(() => requirePrerequisite({ skip }, 'suite A', 'helm not found'), /CI is set/);
    assert.equal(skip.mock.callCount(), 0);
  });

  it('without CI: returns the skip message and prints one SKIPPED banner per suite', () => {
    delete process.env.CI;
    const message = missingPrerequisite('suite B', 'podman not found');
    assert.equal(message, 'podman not found (set CI=true to make this a failure)');
    missingPrerequisite('suite B', 'podman not found');
    assert.equal(warn.mock.callCount(), 1);
    assert.match(String(warn.mock.calls[0]!.arguments[0]), /!!! suite B SKIPPED: podman not found/);
  });

  it('requirePrerequisite: true when nothing is missing; otherwise skips the test and returns false', () => {
    delete process.env.CI;
    const skip = mock.fn();
    assert.equal(requirePrerequisite({ skip }, 'suite C', undefined), true);
    assert.equal(skip.mock.callCount(), 0);
    assert.equal(requirePrerequisite({ skip }, 'suite C', 'promtool not found'), false);
    assert.deepEqual(skip.mock.calls[0]!.arguments, ['promtool not found (set CI=true to make this a failure)']);
  });
});

describe('waitFor', () => {
  it('polls until the condition holds and returns its value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls === 3 ? { calls } : undefined), { interval: 1 });
    assert.deepEqual(value, { calls: 3 });
  });

  it('treats false, null and undefined as "not yet", other values (0, "") as ready', async () => {
    const results = [false, null, undefined, 0];
    assert.equal(await waitFor(() => results.shift(), { interval: 1 }), 0);
    assert.equal(await waitFor(async () => '', { interval: 1 }), '');
  });

  it('fails after the timeout, naming what it waited for', async () => {
    await assert.rejects(
      waitFor(() => false, { what: 'the moon', timeout: 30, interval: 5 }),
      /timed out after 30 ms waiting for the moon/,
    );
  });

  it('an exception from the condition propagates at once', async () => {
    let calls = 0;
    await assert.rejects(
      waitFor(() => {
        calls++;
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(calls, 1);
  });
});
