import { Command, CommanderError } from 'commander';
import { ClopenClient, type ServiceName } from './client';
import { registerAccess } from './commands/access';
import { registerBalances } from './commands/balances';
import { registerDeadLetters } from './commands/dead-letters';
import { registerJobs } from './commands/jobs';
import { registerLicences } from './commands/licences';
import { registerModels } from './commands/models';
import { registerVerify } from './commands/verify';
import { EXIT, UsageError } from './errors';
import type { CliIo } from './io';
import { print, printError, type Output } from './render';

const SERVICES: { name: ServiceName; flag: string; env: string; fallback: string }[] = [
  { name: 'storage', flag: 'storageUrl', env: 'CLOPEN_STORAGE_URL', fallback: 'http://127.0.0.1:3001' },
  { name: 'distribution', flag: 'distributionUrl', env: 'CLOPEN_DISTRIBUTION_URL', fallback: 'http://127.0.0.1:3002' },
  { name: 'access', flag: 'accessUrl', env: 'CLOPEN_ACCESS_URL', fallback: 'http://127.0.0.1:3004' },
  { name: 'incentives', flag: 'incentivesUrl', env: 'CLOPEN_INCENTIVES_URL', fallback: 'http://127.0.0.1:3006' },
];

/** What every command handler gets: the parsed global options turned into a client, and the output. */
export interface App {
  io: CliIo;
  json(cmd: Command): boolean;
  client(cmd: Command): ClopenClient;
  /** Global options and the command's own, merged. */
  options<T = Record<string, any>>(cmd: Command): T;
}

/** A command's action: runs the handler and prints its output; failures go up to `run`. */
export type Handler = (app: App, cmd: Command, ...args: string[]) => Promise<Output>;
/** Wraps a handler into a commander action. */
export type Action = (handler: Handler) => (...args: unknown[]) => Promise<void>;

interface State {
  exitCode: number;
  commanderMessage?: string;
}

/** The `clopen` program, writing to `io`. Use `run` to execute a command line. */
export function buildProgram(io: CliIo, state: State = { exitCode: EXIT.ok }): Command {
  const program = new Command('clopen')
    .description(
      'Operate a Clopen platform: models and versions, licences and embedding jobs, grants, epochs, violations, verifying suspect endpoints, balances.',
    )
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander's own errors (unknown option, missing argument) are printed by `run`, as every error is.
      outputError: (s) => (state.commanderMessage = s.replace(/^error: /, '').trim()),
    });
  for (const s of SERVICES) program.option(`--${kebab(s.flag)} <url>`, `${s.name} REST API (env ${s.env}, default ${s.fallback})`);
  program.option('--api-key <key>', 'API key sent as "Authorization: Bearer <key>" (env CLOPEN_API_KEY)');
  program.option('--json', 'print exactly one JSON document on stdout (no tables, no progress)');

  const app: App = {
    io,
    json: (cmd) => !!cmd.optsWithGlobals().json,
    options: <T>(cmd: Command) => cmd.optsWithGlobals() as T,
    client(cmd) {
      const opts = cmd.optsWithGlobals();
      const urls = {} as Record<ServiceName, string>;
      for (const s of SERVICES) {
        const value = opts[s.flag] ?? io.env[s.env] ?? s.fallback;
        if (!/^https?:\/\/[^/]/i.test(value) || !URL.canParse(value))
          throw new UsageError(`--${kebab(s.flag)} (or ${s.env}) must be an http(s) URL, got ${JSON.stringify(value)}`);
        urls[s.name] = value;
      }
      return new ClopenClient({ urls, apiKey: opts.apiKey ?? (io.env.CLOPEN_API_KEY || undefined), fetch: io.fetch });
    },
  };
  const action: Action =
    (handler) =>
    async (...args: unknown[]) => {
      // Commander passes the positional arguments, then the options, then the command.
      const cmd = args[args.length - 1] as Command;
      const positional = args.slice(0, -2).map((a) => a as string);
      const out = await handler(app, cmd, ...positional);
      print(io, app.json(cmd), out);
      state.exitCode = out.exitCode ?? EXIT.ok;
    };

  registerModels(program, action);
  registerLicences(program, action);
  registerJobs(program, action);
  registerAccess(program, action);
  registerVerify(program, action);
  registerBalances(program, action);
  registerDeadLetters(program, action);
  return program;
}

/**
 * Runs one command line (without the node and script arguments) and returns the exit code:
 * 0 success, 1 a failed call or a failed outcome, 2 a bad argument.
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const state: State = { exitCode: EXIT.ok };
  const program = buildProgram(io, state);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      if (e.code === 'commander.help') return EXIT.usage;
      return printError(io, json, new UsageError(state.commanderMessage ?? e.message));
    }
    return printError(io, json, e);
  }
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
