/**
 * The monitoring mixin (monitoring/) as the tools see it: the generated files are what Sloth and
 * scripts/gen-monitoring.ts make of the sources today (a stale file fails, like the gen:docs tests), the
 * SLO spec passes `sloth validate`, every rule file passes `promtool check rules`, the unit tests of
 * every alert pass `promtool test rules`, every alert carries its labels and a runbook link that
 * exists, and the test-only time-scaled variant is the same rules on a shorter clock.
 *
 * Needs sloth (Go module proxy) and promtool (Debian prometheus): `eval "$(bash .ci/tools.sh)"`.
 * Missing: skipped with a loud message, or FAILS when CI is set.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { MONITORING_FILES, SLOTH_BIN, slothVersion, timeScaledRules, type RuleGroup } from '../../scripts/gen-monitoring.ts';
import { REPO_ROOT } from '../helpers/authjwt-process.ts';
import { requirePrerequisite } from '../helpers/prerequisite.ts';
import { markdownAnchors, missingTools, PROMTOOL } from '../helpers/prometheus.ts';

const TESTS_DIR = join(REPO_ROOT, 'monitoring/tests');
const MISSING = missingTools([PROMTOOL, SLOTH_BIN]);
const requireTools = (t: { skip(message?: string): void }) => requirePrerequisite(t, 'test/integration/monitoring.test.ts', MISSING);
const groupsOf = (file: string) => (parseYaml(readFileSync(file, 'utf8')) as { groups: RuleGroup[] }).groups;
const run = (bin: string, args: string[]) => spawnSync(bin, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });

describe('the monitoring mixin (monitoring/)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'authjwt-monitoring-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('the generated rules, dashboard and chart copies are up to date (node scripts/gen-monitoring.ts --check)', (t) => {
    if (!requireTools(t)) return;
    const check = run(process.execPath, ['scripts/gen-monitoring.ts', '--check']);
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  });

  it(`the SLO spec passes sloth validate (Sloth ${slothVersion()}, the workbook windows)`, (t) => {
    if (!requireTools(t)) return;
    const r = run(SLOTH_BIN, [
      'validate',
      '--no-log',
      `--input=${MONITORING_FILES.slos}`,
      `--slo-period-windows-path=${MONITORING_FILES.windows}`,
    ]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  it('promtool check rules: the mixin files and the chart copy', (t) => {
    if (!requireTools(t)) return;
    const r = run(PROMTOOL, ['check', 'rules', MONITORING_FILES.rules, MONITORING_FILES.alerts, MONITORING_FILES.chartRules]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stdout.match(/SUCCESS/g)?.length, 3, r.stdout);
  });

  it('promtool test rules: every alert fires and stays quiet where it should, for every door (monitoring/tests/*.test.yaml)', (t) => {
    if (!requireTools(t)) return;
    const files = readdirSync(TESTS_DIR)
      .filter((f) => f.endsWith('.test.yaml'))
      .map((f) => join(TESTS_DIR, f));
    const r = run(PROMTOOL, ['test', 'rules', ...files]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stdout.match(/SUCCESS/g)?.length, files.length, r.stdout);
  });

  it('every alert: severity, summary, description, a runbook_url whose anchor exists in docs/runbooks.md, and unit tests that fire it and keep it quiet', () => {
    const alerts = groupsOf(MONITORING_FILES.alerts)
      .flatMap((g) => g.rules)
      .filter((r) => r.alert);
    const anchors = markdownAnchors(readFileSync(join(REPO_ROOT, 'docs/runbooks.md'), 'utf8'));
    const tests = readdirSync(TESTS_DIR)
      .filter((f) => f.endsWith('.test.yaml'))
      .flatMap(
        (f) =>
          (
            parseYaml(readFileSync(join(TESTS_DIR, f), 'utf8')) as {
              tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[]; promql_expr_test?: { expr: string }[] }[];
            }
          ).tests,
      );
    const cases = tests.flatMap((c) => c.alert_rule_test ?? []);
    const names = [...new Set(alerts.map((a) => a.alert!))];
    assert.ok(names.length >= 11, `the documented alerts: ${names.join(', ')}`);
    for (const a of alerts) {
      assert.match(a.labels?.severity ?? '', /^(critical|warning)$/, `${a.alert}: severity label`);
      assert.ok(a.annotations?.summary && a.annotations.description, `${a.alert}: summary and description`);
      assert.equal(a.annotations?.runbook_url, `docs/runbooks.md#${a.alert!.toLowerCase()}`, `${a.alert}: runbook_url`);
      assert.ok(anchors.has(a.alert!.toLowerCase()), `docs/runbooks.md has no section "## ${a.alert}"`);
    }
    for (const name of names) {
      assert.ok(
        cases.some((c) => c.alertname === name && c.exp_alerts.length > 0),
        `${name}: no promtool case where it fires`,
      );
      assert.ok(
        cases.some((c) => c.alertname === name && c.exp_alerts.length === 0),
        `${name}: no promtool case where it stays quiet`,
      );
    }
    // The runbooks document no alert that does not exist.
    const documented = readFileSync(join(REPO_ROOT, 'docs/runbooks.md'), 'utf8').match(/^## (AuthJwt\w+)$/gm) ?? [];
    assert.deepEqual(documented.map((h) => h.slice(3)).sort(), names.sort());
  });

  it('docs/operations.md: the PrometheusRule made without the chart carries exactly the groups of both rule files', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');
    const line = doc.split('\n').find((l) => l.includes('kind: PrometheusRule') && l.includes('| kubectl'));
    assert.ok(line, 'the command in docs/operations.md');
    const r = spawnSync('sh', ['-c', line.slice(0, line.lastIndexOf('| kubectl'))], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rule = parseYaml(r.stdout) as { apiVersion: string; kind: string; spec: { groups: RuleGroup[] } };
    assert.deepEqual([rule.apiVersion, rule.kind], ['monitoring.coreos.com/v1', 'PrometheusRule']);
    assert.deepEqual(rule.spec.groups, [...groupsOf(MONITORING_FILES.rules), ...groupsOf(MONITORING_FILES.alerts)]);
  });

  it('the SLO alerts are generated for every door from one rule each: no rule names a door', () => {
    const rules = [...groupsOf(MONITORING_FILES.rules), ...groupsOf(MONITORING_FILES.alerts)].flatMap((g) => g.rules);
    const slo = rules.filter((r) => r.labels?.sloth_service === 'authjwt' || /^slo:/.test(r.record ?? ''));
    assert.ok(slo.length > 20, 'Sloth recording rules and alerts');
    for (const r of slo) assert.ok(!/door\s*=/.test(r.expr), `${r.record ?? r.alert}: names a door`);
    for (const r of slo.filter((x) => x.record === 'slo:sli_error:ratio_rate5m'))
      assert.match(r.expr, /sum by \(namespace, job, door\)/, 'the SLIs keep the door label');
    const burn = rules.filter((r) => /SLOBurn$/.test(r.alert ?? ''));
    assert.deepEqual(
      burn.map((r) => `${r.alert} ${r.labels?.severity}`),
      [
        'AuthJwtAvailabilitySLOBurn critical',
        'AuthJwtAvailabilitySLOBurn warning',
        'AuthJwtLatencySLOBurn critical',
        'AuthJwtLatencySLOBurn warning',
      ],
    );
  });

  it('the test-only variant: every duration divided by the factor, nothing else changed; promtool accepts it', (t) => {
    const groups = [...groupsOf(MONITORING_FILES.rules), ...groupsOf(MONITORING_FILES.alerts)];
    const scaled = timeScaledRules(groups, 300);
    const strip = (expr: string) => expr.replace(/\[[^\]]+\]/g, '[]');
    const durations = (expr: string) => [...expr.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]);
    const ms = (d: string) =>
      [...d.matchAll(/(\d+)(ms|s|m|h|d)/g)].reduce(
        (sum, [, n, u]) => sum + Number(n) * { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[u!]!,
        0,
      );
    let ranges = 0;
    for (const [gi, g] of groups.entries())
      for (const [ri, r] of g.rules.entries()) {
        const s = scaled[gi]!.rules[ri]!;
        assert.equal(strip(s.expr), strip(r.expr), `${r.record ?? r.alert}: only the durations differ`);
        assert.deepEqual([s.labels, s.annotations, s.record, s.alert], [r.labels, r.annotations, r.record, r.alert]);
        const [before, after] = [durations(r.expr), durations(s.expr)];
        for (const [i, d] of before.entries()) {
          ranges++;
          assert.equal(ms(after[i]!) * 300, ms(d!), `${r.record ?? r.alert}: [${d}] → [${after[i]}]`);
        }
        if (r.for) assert.equal(ms(s.for!) * 300, ms(r.for));
      }
    assert.ok(ranges > 50, `${ranges} range selectors scaled`);
    assert.deepEqual(durations(scaled.flatMap((g) => g.rules).find((r) => r.record === 'slo:sli_error:ratio_rate30d')!.expr), [
      '2h24m',
      '2h24m',
    ]);
    assert.throws(() => timeScaledRules([{ name: 'g', rules: [{ record: 'x', expr: 'rate(m[1s])' }] }], 300), /whole number of ms/);
    if (!requireTools(t)) return;
    const file = join(scratch, 'scaled.yaml');
    writeFileSync(file, stringifyYaml({ groups: scaled }, { lineWidth: 0 }));
    const r = run(PROMTOOL, ['check', 'rules', file]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});
