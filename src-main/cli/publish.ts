/**
 * `sluice publish SUBJECT BODY`: put one message on the bus, as a DECNET component
 * would — for trying a subscription out, or a receiver, without another NATS client.
 * BODY is sent as given (`-` reads standard input), so malformed bodies can be tried too.
 */
import { readFileSync } from 'node:fs';
import { Engine } from '../engine/engine';
import { subjectError } from '../match/pattern';
import { CHANGE_OPTIONS, EXIT_FAILURE, EXIT_OK, expectOperands, parseCommand } from './args';
import { err, out, printJson } from './output';
import { cliKeySource } from './secrets';
import { checkNatsUrl, database, publishOnce } from './session';

export async function publishCommand(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('publish', argv, CHANGE_OPTIONS);
  const [subject, rawBody] = expectOperands(problems, positionals, ['SUBJECT', 'BODY']) as [string, string];
  const problem = positionals.length > 0 ? subjectError(subject) : null;
  if (problem) problems.add(problem);
  problems.check(() => checkNatsUrl(values.nats));
  // The bus settings (URL, credentials, TLS) are the database's: a typo in --db must
  // not publish with the defaults instead.
  const db = database(values.db, 'existing', problems);
  problems.done();
  const body = rawBody === '-' ? readFileSync(0) : Buffer.from(rawBody, 'utf8');
  if (!looksLikeJsonObject(body)) err('note: BODY is not a JSON object; a Sluice engine will reject it (shown in its log)');

  const engine = await Engine.start({
    dbPath: db.path,
    offline: true,
    cipher: (await cliKeySource()).cipher,
    ...(values.nats ? { natsUrl: values.nats } : {}),
  });
  const settings = engine.effectiveSettings();
  await engine.stop();
  const { sent, lastError } = await publishOnce(settings, subject, body);
  if (values.json) printJson({ subject, bytes: body.byteLength, sent, natsUrl: settings.natsUrl });
  else if (sent) out(`published ${body.byteLength} bytes on ${subject}`);
  if (!sent) err(`sluice: bus not reachable at ${settings.natsUrl}${lastError ? `: ${lastError}` : ''}`);
  return sent ? EXIT_OK : EXIT_FAILURE;
}

function looksLikeJsonObject(body: Buffer): boolean {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
