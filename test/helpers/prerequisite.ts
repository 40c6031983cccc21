/**
 * "Skip locally, fail in CI" for a missing test prerequisite (a tool, a container runtime, an image):
 * a developer without podman or helm still gets a green run of everything else, with a loud SKIPPED
 * banner; with CI set the suite FAILS, because a skipped suite is never counted as passing in CI.
 */

const announced = new Set<string>();

/**
 * Reports that `what` (a suite or test, e.g. "Keycloak e2e suite") cannot run because of `reason`.
 * With CI set: throws. Otherwise: prints a SKIPPED banner (once per `what`) and returns the message
 * to skip with (`t.skip(message)`, `describe(…, { skip: message })`).
 */
export function missingPrerequisite(what: string, reason: string): string {
  if (process.env.CI) throw new Error(`${reason} (CI is set: ${what} may not be skipped)`);
  const message = `${reason} (set CI=true to make this a failure)`;
  if (!announced.has(what)) {
    announced.add(what);
    console.warn(`\n!!! ${what} SKIPPED: ${message}\n`);
  }
  return message;
}

/**
 * For one test: true when nothing is missing (`reason` undefined); otherwise skips `t` (locally) or
 * throws (CI set) and returns false. Use as `if (!requirePrerequisite(t, what, reason)) return;`.
 */
export function requirePrerequisite(t: { skip(message?: string): void }, what: string, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  t.skip(missingPrerequisite(what, reason));
  return false;
}
