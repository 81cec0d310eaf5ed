import { describe, expect, it } from 'vitest';
import { CliError, editDistance, expectOperands, oneOf, parseCommand, Problems, suggest } from './args';

const FORM = {
  db: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  follow: { type: 'boolean', short: 'f' },
  name: { type: 'string' },
  nats: { type: 'string' },
  url: { type: 'string' },
  pattern: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
} as const;

/** The message `done()` throws, or null when there is no problem. */
function reported(problems: Problems): string | null {
  try {
    problems.done();
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as CliError).message;
  }
}

describe('editDistance', () => {
  it('counts inserts, deletes, replacements, and a swapped pair as one', () => {
    expect(editDistance('name', 'name')).toBe(0);
    expect(editDistance('nmae', 'name')).toBe(1);
    expect(editDistance('nam', 'name')).toBe(1);
    expect(editDistance('namex', 'name')).toBe(1);
    expect(editDistance('nane', 'name')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('suggest', () => {
  const options = Object.keys(FORM);
  it('names the nearest candidate for a typo, ignoring case', () => {
    expect(suggest('nmae', options)).toEqual(['name']);
    expect(suggest('jsno', options)).toEqual(['json']);
    expect(suggest('URL', options)).toEqual(['url']);
    expect(suggest('circuitTreshold', ['circuitThreshold', 'concurrency'])).toEqual(['circuitThreshold']);
    expect(suggest('lsit', ['list', 'add', 'update'])).toEqual(['list']);
    expect(suggest('delivries', ['run', 'subs', 'deliveries'])).toEqual(['deliveries']);
  });

  it('names every candidate at the same distance', () => {
    expect(suggest('nam', ['name', 'nat'])).toEqual(['name', 'nat']);
  });

  it('takes the one candidate a word begins', () => {
    expect(suggest('dry', options)).toEqual(['dry-run']);
    expect(suggest('pat', options)).toEqual(['pattern']);
    // Begins two: no guess.
    expect(suggest('n', ['name', 'nats'])).toEqual([]);
  });

  it('suggests nothing for what is not near anything', () => {
    expect(suggest('frobnicate', options)).toEqual([]);
    expect(suggest('colour', ['circuitThreshold', 'concurrency', 'natsUrl'])).toEqual([]);
    expect(suggest('', options)).toEqual([]);
  });
});

describe('parseCommand', () => {
  it('parses values, flags, repeated options, short flags, --name=value and --', () => {
    const { values, positionals, problems } = parseCommand('x', ['a', '--name', 'n', '--url=u=v', '--pattern', 'p1', '-fh', '--pattern', 'p2', '--', '--json'], FORM);
    expect(reported(problems)).toBeNull();
    expect(values).toEqual({ name: 'n', url: 'u=v', pattern: ['p1', 'p2'], follow: true, help: true });
    expect(positionals).toEqual(['a', '--json']);
  });

  it('takes "-" as a value, and an empty one', () => {
    const { values, problems } = parseCommand('x', ['--name', '-', '--url', ''], FORM);
    expect(reported(problems)).toBeNull();
    expect(values).toEqual({ name: '-', url: '' });
  });

  it('reports every problem at once, one per line, with the nearest option', () => {
    const { problems } = parseCommand('subs add', ['--nmae', 'siem', '--jsno', '--frobnicate', '--json=yes', '-x', '--url'], FORM);
    expect(reported(problems)).toBe(
      [
        'subs add: 6 problems (see sluice --help):',
        '  --nmae: unknown option; did you mean --name?',
        '  --jsno: unknown option; did you mean --json?',
        '  --frobnicate: unknown option',
        '  --json: takes no value',
        '  -x: unknown option',
        '  --url: missing value',
      ].join('\n'),
    );
  });

  it("takes the value of a misspelt option that takes one as that option's, not as an argument", () => {
    const { positionals, problems } = parseCommand('x', ['--nmae', 'siem', '--jsno', 'arg'], FORM);
    expect(positionals).toEqual(['arg']);
    expect(problems.count).toBe(2);
  });

  it('says how to give a value that begins with a dash', () => {
    const { problems } = parseCommand('x', ['--name', '--url', 'u'], FORM);
    expect(reported(problems)).toBe('x: --name: missing value (a value that starts with "-" is given as --name=--url) (see sluice --help)');
  });
});

describe('Problems', () => {
  it('collects a thrown CliError, and the operands a command expects', () => {
    const problems = new Problems('settings set');
    expect(problems.check(() => 7)).toBe(7);
    expect(
      problems.check(() => {
        throw new CliError('concurrency: "lots" is not an integer');
      }),
    ).toBeUndefined();
    expect(expectOperands(problems, ['natsUrl'], ['KEY', 'VALUE'])).toEqual(['natsUrl', '']);
    expect(expectOperands(problems, ['a', 'b', 'c'], ['KEY'])).toEqual(['a']);
    expect(reported(problems)).toBe(
      [
        'settings set: 3 problems (see sluice --help):',
        '  concurrency: "lots" is not an integer',
        '  missing VALUE',
        '  unexpected arguments "b" "c"',
      ].join('\n'),
    );
  });

  it('does not call an option required when a problem already names it', () => {
    const { values, problems } = parseCommand('subs add', ['--nmae', 'x', '--url'], FORM);
    problems.require('--name', values.name);
    problems.require('--url', values.url);
    problems.require('--nats', values.nats);
    expect(reported(problems)).toBe(
      [
        'subs add: 3 problems (see sluice --help):',
        '  --nmae: unknown option; did you mean --name?',
        '  --url: missing value',
        '  --nats is required',
      ].join('\n'),
    );
  });

  it('does not point at the help for a bad value alone', () => {
    const problems = new Problems('deliveries');
    problems.check(() => oneOf('--outcome', 'delivred', ['pending', 'delivered', 'dead']));
    expect(reported(problems)).toBe('deliveries: --outcome: "delivred" is not one of: pending, delivered, dead; did you mean delivered?');
  });
});

describe('oneOf', () => {
  it('takes a value whatever its case, as it is spelt in the list', () => {
    expect(oneOf('--preset', 'attackerdetail', ['AttackerDetail', 'DeckyStatus'])).toBe('AttackerDetail');
    expect(() => oneOf('--held', 'keep', ['deliver', 'discard'])).toThrow('--held: "keep" is not one of: deliver, discard');
  });
});
