/**
 * Preload (`node --expose-gc --import ./test/helpers/gc-on-signal.ts …`) for child-process memory
 * tests: on SIGUSR2 the process runs a full garbage collection and then writes `authjwt-test: gc done`
 * on stderr, so a test can read the heap figures (/metrics nodejs_heap_size_used_bytes) without garbage.
 * Test tooling only; never part of the image.
 */
const gc = (globalThis as { gc?: (options?: { type: 'major'; execution: 'sync' }) => void }).gc;
if (typeof gc !== 'function') throw new Error('gc-on-signal.ts needs node --expose-gc');
process.on('SIGUSR2', () => {
  gc();
  gc();
  process.stderr.write('authjwt-test: gc done\n');
});
