import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STREAMS, SUBJECTS, streamNames, type StreamSpec, type Subject } from '@clopen/bus';
import { PARTNER, PARTNER_STREAM, rolesOf } from './participants';

const EXAMPLES_DIR = 'tools/apidocs/examples';

/**
 * docs/partners.md with its generated parts filled in, the rest as written: between
 * `<!-- generated:subjects -->` and `<!-- /generated:subjects -->` the subjects a partner
 * publishes and consumes (from the participants table), between `<!-- generated:example NAME -->`
 * and `<!-- /generated:example -->` the example file NAME, which typecheck compiles and a test runs.
 */
export function partnerPage(root: string, page: string): string {
  return page
    .replace(/(<!-- generated:subjects -->\n)[\s\S]*?(<!-- \/generated:subjects -->)/, (_, open: string, close: string) => `${open}${subjectTables()}${close}`)
    .replace(/(<!-- generated:example ([\w.-]+) -->\n)[\s\S]*?(<!-- \/generated:example -->)/g, (_, open: string, name: string, close: string) => {
      const code = readFileSync(join(root, EXAMPLES_DIR, name), 'utf8');
      return `${open}\`\`\`ts\n${code.endsWith('\n') ? code : `${code}\n`}\`\`\`\n${close}`;
    });
}

function subjectTables(): string {
  const subjects = Object.keys(SUBJECTS) as Subject[];
  const partnerDoes = (action: 'send' | 'receive') => subjects.filter((s) => rolesOf(s).some((r) => r.participant === PARTNER && r.action === action));
  const row = (subject: Subject, where: string) => {
    const spec = SUBJECTS[subject];
    const message = spec.kind === 'event' ? spec.schema.typeName : spec.request.typeName;
    return `| \`${subject}\` | ${where} | \`${message}\` | ${spec.description.replace(/\|/g, '\\|')} |`;
  };
  const header = (where: string) => [`| subject | ${where} | message | what it says |`, '| --- | --- | --- | --- |'];
  const streamOf = (subject: Subject) => {
    const spec = SUBJECTS[subject];
    return spec.kind === 'event' ? spec.stream : '(request)';
  };
  const sends = [...header('stored as'), ...partnerDoes('send').map((s) => row(s, `${streamOf(s)}, as \`${s}.<your id>\``))];
  const reads = [
    ...header('stream you read'),
    ...partnerDoes('receive').map((s) => {
      const mirror = streamNames().find((name) => name === PARTNER_STREAM && (STREAMS[name] as StreamSpec).mirror?.subject === s);
      return row(s, mirror ? `${mirror} (a mirror of ${streamOf(s)})` : streamOf(s));
    }),
  ];
  return `You publish:\n\n${sends.join('\n')}\n\nYou read:\n\n${reads.join('\n')}\n`;
}
