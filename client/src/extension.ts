import * as vscode from 'vscode';
import { pythonExtensionApi } from './interpreter';
import { ServerController } from './server';
import { ServerStatus } from './status';
import { fixAllInActiveEditor } from './fixAll';
import { runFileWithSentinel } from './runFile';

let controller: ServerController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('gradwatch', { log: true });
  const status = new ServerStatus();
  controller = new ServerController(context.extensionPath, output, status);
  const server = controller;
  context.subscriptions.push(output, status, server);

  context.subscriptions.push(
    vscode.commands.registerCommand('gradwatch.restart', () => server.restart('restart command')),
    vscode.commands.registerCommand('gradwatch.showLogs', () => output.show(true)),
    vscode.commands.registerCommand('gradwatch.fixAll', () => fixAllInActiveEditor(output)),
    vscode.commands.registerCommand('gradwatch.runFileWithSentinel', () =>
      runFileWithSentinel(context.extensionPath, output, (runtimeFindings) => server.filesChanged([runtimeFindings])),
    ),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // Other gradwatch settings reach the running server as didChangeConfiguration; these two need a new process.
      if (event.affectsConfiguration('gradwatch.interpreter') || event.affectsConfiguration('gradwatch.logLevel')) {
        void server.restart('settings changed');
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => server.restart('workspace trusted')),
    vscode.workspace.onDidChangeWorkspaceFolders(() => server.restart('workspace folders changed')),
  );

  // Subscribing is best effort: without the Python extension we simply never hear about environment changes.
  void pythonExtensionApi().then((api) => {
    if (api) {
      context.subscriptions.push(
        api.environments.onDidChangeActiveEnvironmentPath(() => server.restart('Python environment changed')),
      );
    }
  });

  void server.restart('activation');
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
