/**
 * Generates the protobuf-ts client of proto/ (the origin frontend's stack) with @protobuf-ts/plugin
 * (devDependency) and Debian's protoc — never @protobuf-ts/protoc, which downloads a compiler.
 * The output goes under the repository's ignored `.cache/` so that generated files resolve the
 * runtime packages from node_modules.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROTO_DIR, REPO_ROOT, runTool } from './interop-tools.ts';

export const PROTOC_GEN_TS = join(REPO_ROOT, 'node_modules/.bin/protoc-gen-ts');

export interface ProtobufTsClient {
  dir: string;
  /** The generated TypeScript (what `npx protoc --ts_out` writes), for inspection. */
  tsClientFile: string;
  /** The same client as CommonJS JavaScript (`output_javascript,output_legacy_commonjs`): runnable by Node as is. */
  jsClientUrl: string;
  remove(): void;
}

/** Runs protoc with protoc-gen-ts twice: TypeScript (default options) and runnable CommonJS. */
export async function generateProtobufTs(protoc: string): Promise<ProtobufTsClient> {
  const cache = join(REPO_ROOT, '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'protobuf-ts-'));
  const run = async (out: string, opt: string | undefined) => {
    mkdirSync(out, { recursive: true });
    const res = await runTool(protoc, [
      `--plugin=protoc-gen-ts=${PROTOC_GEN_TS}`,
      `--ts_out=${out}`,
      ...(opt ? [`--ts_opt=${opt}`] : []),
      '--proto_path',
      PROTO_DIR,
      'auth/v1alpha1/auth.proto',
    ]);
    if (res.code !== 0) throw new Error(`protoc --ts_out failed (${res.code}): ${res.stderr}`);
  };
  await run(join(dir, 'ts'), undefined);
  await run(join(dir, 'cjs'), 'output_javascript,output_legacy_commonjs');
  // The repository is "type": "module"; the generated JavaScript is CommonJS.
  writeFileSync(join(dir, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
  return {
    dir,
    tsClientFile: join(dir, 'ts/auth/v1alpha1/auth.client.ts'),
    jsClientUrl: pathToFileURL(join(dir, 'cjs/auth/v1alpha1/auth.client.js')).href,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
