/** Entry point of the `loggerhead` command; the only place that exits the process. */
import { runCli } from './cli.ts';

const code = await runCli(process.argv.slice(2), {
  loadFactories: async () => (await import('./components.ts')).builtinFactories,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
  env: process.env,
  cwd: process.cwd(),
  onSignal: (handler) => {
    process.on('SIGTERM', () => handler('SIGTERM'));
    process.on('SIGINT', () => handler('SIGINT'));
  },
});
process.exit(code);
