import type { z } from 'zod';

export interface ConfigIssue {
  path: string;
  message: string;
}

const pathOf = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), '');

/**
 * zod issues as `path: message` lines. Messages name the problem, never the value: a secret written
 * into the wrong field must not be printed.
 */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_union' && 'errors' in i && Array.isArray(i.errors) && i.errors.length) {
      // Report the problems of the branch the value's type matched (a list of rules that is too long, not
      // "expected string"), else of the first branch, rather than a generic "invalid input"; nested unions too.
      const branches = i.errors as z.core.$ZodIssue[][];
      const typeMismatch = (b: z.core.$ZodIssue[]) => b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0;
      return formatZodIssues(branches.find((b) => !typeMismatch(b)) ?? branches[0]!, path);
    }
    return [{ path: pathOf(path), message: describe(i) }];
  });
}

function describe(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown field(s): ${i.keys.join(', ')}`;
  // A rejected record key (e.g. a reserved claim name): report why, not zod's generic "Invalid key in record".
  if (i.code === 'invalid_key' && i.issues.length) return i.issues.map((sub) => sub.message).join('; ');
  if (i.code === 'invalid_type' && i.message.includes('received undefined')) return 'is required';
  return i.message;
}
