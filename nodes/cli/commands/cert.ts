/**
 * `zmesh cert <issue|show|revoke>`: membership certificates signed by a mesh authority
 * (see `zmesh authority init`). Each subcommand lives in its own module.
 */
import type { Argv, CommandModule } from 'yargs';
import { certIssueCommand } from './cert-issue.js';
import { certRevokeCommand } from './cert-revoke.js';
import { certShowCommand } from './cert-show.js';

export const certCommand: CommandModule = {
  command: 'cert',
  describe: 'issue, inspect and revoke node certificates',
  builder: (y: Argv) => y
    .command(certIssueCommand)
    .command(certShowCommand)
    .command(certRevokeCommand)
    .demandCommand(1, 'name a cert command: issue, show or revoke'),
  handler: () => undefined,
};
