import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  ClientCapabilities,
  DidChangeWatchedFilesNotification,
  FeatureState,
  FileChangeType,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerCapabilities,
  ServerOptions,
  State,
  StaticFeature,
} from 'vscode-languageclient/node';
import { checkPythonVersion, chooseInterpreter, InterpreterChoice } from './interpreter';
import { ServerStatus } from './status';

export const CLIENT_ID = 'gradwatch';
const STOP_TIMEOUT_MS = 3000;
const LOG_LEVELS = ['debug', 'info', 'warning', 'error'];

/** What the server reads under the "gradwatch" section (initializationOptions and workspace/configuration). */
export function settingsFor(scope: vscode.Uri | undefined, interpreter: string | undefined): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration('gradwatch', scope);
  return {
    enable: config.get<boolean>('enable', true),
    select: config.get<string[]>('select', []),
    ignore: config.get<string[]>('ignore', []),
    severity: config.get<Record<string, string>>('severity', {}),
    run: config.get<string>('run', 'onType'),
    debounce: config.get<number>('debounce', 150),
    inlayHints: { shapes: config.get<boolean>('inlayHints.shapes', true) },
    // Always the interpreter we verified and run: in Restricted Mode a workspace value must not reach the server.
    interpreter: interpreter ?? '',
  };
}

function primaryFolder(): vscode.WorkspaceFolder | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  return (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
}

/**
 * Owns the one LanguageClient. Every (re)start goes through a single promise chain, so two restarts never
 * overlap, and a burst of requests (settings change + environment change) collapses into one restart.
 */
export class ServerController implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private queue: Promise<void> = Promise.resolve();
  private restartQueued = false;
  private disposed = false;

  constructor(
    private readonly extensionPath: string,
    private readonly output: vscode.LogOutputChannel,
    private readonly status: ServerStatus,
  ) {}

  get languageClient(): LanguageClient | undefined {
    return this.client;
  }

  /** Tell the running server that these files changed on disk (as a file watcher would). */
  filesChanged(paths: string[]): void {
    const changes = paths.map((file) => ({ uri: vscode.Uri.file(file).toString(), type: FileChangeType.Changed }));
    void this.client?.sendNotification(DidChangeWatchedFilesNotification.type, { changes });
  }

  restart(reason: string): Promise<void> {
    if (this.restartQueued) {
      return this.queue;
    }
    this.restartQueued = true;
    this.queue = this.queue
      .then(async () => {
        this.restartQueued = false;
        if (!this.disposed) {
          await this.restartNow(reason);
        }
      })
      .catch((error) => {
        this.output.error(`restart failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        this.status.show('error', 'the server failed to start; see the gradwatch output');
      });
    return this.queue;
  }

  private async restartNow(reason: string): Promise<void> {
    this.output.info(`starting the server (${reason})`);
    await this.stopClient();
    this.status.show('starting');

    const folder = primaryFolder();
    const choice = await chooseInterpreter(folder, vscode.workspace.isTrusted);
    this.status.setInterpreter(choice, undefined);
    if (choice.restrictedNote) {
      this.output.warn(choice.restrictedNote);
    }
    this.output.info(`interpreter: ${choice.command} (from ${choice.source})`);

    const check = await checkPythonVersion(choice.command, this.extensionPath);
    if (!check.ok) {
      const problem = check.problem ?? `${choice.command} cannot run gradwatch`;
      this.output.error(problem);
      this.status.show('error', problem);
      void offerInterpreterChoice(problem);
      return;
    }
    this.status.setInterpreter(choice, check.version);

    const libs = path.join(this.extensionPath, 'bundled', 'libs');
    if (!fs.existsSync(path.join(libs, 'gradwatch'))) {
      const problem = `the bundled server is missing (${libs}); rebuild the extension with scripts/build-vsix.sh`;
      this.output.error(problem);
      this.status.show('error', problem);
      return;
    }

    // The server runs jedi only with its own interpreter (or one on its command line): name it as the
    // server sees it (sys.executable), not as a bare `python3` or a pyenv shim that leads to it.
    const client = this.createClient(choice, libs, folder, check.executable ?? choice.command);
    this.client = client;
    client.onDidChangeState((event) => {
      if (this.client !== client) {
        return;
      }
      if (event.newState === State.Running) {
        this.status.show('running');
      } else if (event.newState === State.Starting) {
        this.status.show('starting');
      } else {
        this.status.show('stopped');
      }
    });
    try {
      await client.start();
      this.output.info(`server running with Python ${check.version}`);
      this.status.show('running');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.output.error(`the server did not start: ${message}`);
      this.status.show('error', `the server did not start: ${message}`);
    }
  }

  private createClient(
    choice: InterpreterChoice,
    libs: string,
    folder: vscode.WorkspaceFolder | undefined,
    interpreter: string,
  ): LanguageClient {
    const configuredLevel = vscode.workspace.getConfiguration('gradwatch').get<string>('logLevel', 'info');
    // An unknown level would make the server's argument parser exit before it could say why.
    const logLevel = LOG_LEVELS.includes(configuredLevel) ? configuredLevel : 'info';
    const inheritedPath = process.env.PYTHONPATH;
    const serverOptions: ServerOptions = {
      command: choice.command,
      args: ['-m', 'gradwatch', 'serve', '--stdio', '--log-level', logLevel],
      options: {
        // Never the workspace: a stray gradwatch/ or site customisation there must not shadow the bundle.
        cwd: this.extensionPath,
        env: {
          PYTHONPATH: inheritedPath ? `${libs}${path.delimiter}${inheritedPath}` : libs,
          PYTHONUNBUFFERED: '1',
          PYTHONIOENCODING: 'utf-8',
        },
      },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'python' },
        { scheme: 'untitled', language: 'python' },
        { scheme: 'vscode-notebook-cell', language: 'python' },
      ],
      diagnosticCollectionName: CLIENT_ID,
      outputChannel: this.output,
      traceOutputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => ({ gradwatch: settingsFor(folder?.uri, interpreter) }),
      synchronize: { configurationSection: 'gradwatch' },
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const values = await next(params, token);
            if (!Array.isArray(values)) {
              return values;
            }
            return values.map((value, index) => {
              const section = params.items[index]?.section;
              if (section === 'gradwatch' && value && typeof value === 'object') {
                return { ...value, interpreter };
              }
              return value;
            });
          },
        },
      },
    };
    const client = new LanguageClient(CLIENT_ID, 'gradwatch', serverOptions, clientOptions);
    client.registerFeature(new PushDiagnosticsOnly());
    return client;
  }

  private async stopClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) {
      return;
    }
    try {
      await client.dispose(STOP_TIMEOUT_MS);
    } catch (error) {
      this.output.warn(`stopping the server: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async stop(): Promise<void> {
    this.disposed = true;
    await this.queue;
    await this.stopClient();
  }

  dispose(): void {
    void this.stop();
  }
}

/**
 * Makes the server push diagnostics instead of answering pulls. vscode-languageclient 9 only pulls for
 * documents it opened as text documents, so cells synced through notebookDocument/* never get pulled and a
 * notebook would show no findings; pushed diagnostics land in cells and files alike. The server pushes when
 * the client does not advertise pull support; hiding its diagnosticProvider keeps the client from pulling too
 * (which would show every finding twice). Registered after the built-in features, so it runs after them.
 */
class PushDiagnosticsOnly implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    delete capabilities.textDocument?.diagnostic;
    delete capabilities.workspace?.diagnostics;
  }

  preInitialize(capabilities: ServerCapabilities): void {
    delete capabilities.diagnosticProvider;
  }

  initialize(): void {}

  getState(): FeatureState {
    return { kind: 'static' };
  }

  clear(): void {}
}

async function offerInterpreterChoice(problem: string): Promise<void> {
  const select = 'Select Interpreter';
  const answer = await vscode.window.showErrorMessage(`gradwatch: ${problem}`, select);
  if (answer !== select) {
    return;
  }
  const commands = await vscode.commands.getCommands(true);
  if (commands.includes('python.setInterpreter')) {
    await vscode.commands.executeCommand('python.setInterpreter');
  } else {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'gradwatch.interpreter');
  }
}
