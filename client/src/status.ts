import * as vscode from 'vscode';
import type { InterpreterChoice } from './interpreter';

export type ServerState = 'starting' | 'running' | 'stopped' | 'error';

const STATE_TEXT: Record<ServerState, string> = {
  starting: '$(loading~spin) gradwatch',
  running: '$(check) gradwatch',
  stopped: '$(circle-slash) gradwatch stopped',
  error: '$(error) gradwatch',
};

/** The language status item (the `{}` next to "Python" in the status bar): server state and interpreter. */
export class ServerStatus implements vscode.Disposable {
  private readonly item: vscode.LanguageStatusItem;
  private interpreter: InterpreterChoice | undefined;
  private version: string | undefined;

  constructor() {
    this.item = vscode.languages.createLanguageStatusItem('gradwatch.status', [
      { language: 'python' },
      { notebookType: 'jupyter-notebook', language: 'python' },
    ]);
    this.item.name = 'gradwatch';
    this.item.command = { title: 'Show Logs', command: 'gradwatch.showLogs' };
    this.show('starting');
  }

  setInterpreter(choice: InterpreterChoice, version: string | undefined): void {
    this.interpreter = choice;
    this.version = version;
  }

  show(state: ServerState, problem?: string): void {
    this.item.text = STATE_TEXT[state];
    this.item.busy = state === 'starting';
    this.item.severity =
      state === 'error'
        ? vscode.LanguageStatusSeverity.Error
        : this.interpreter?.restrictedNote
          ? vscode.LanguageStatusSeverity.Warning
          : vscode.LanguageStatusSeverity.Information;
    this.item.detail = this.describe(state, problem);
  }

  private describe(state: ServerState, problem: string | undefined): string {
    const parts: string[] = [];
    if (problem) {
      parts.push(problem);
    }
    if (this.interpreter) {
      const version = this.version ? `Python ${this.version}` : 'Python';
      parts.push(`${version} (${this.interpreter.command}, from ${this.interpreter.source})`);
      if (this.interpreter.restrictedNote) {
        parts.push(this.interpreter.restrictedNote);
      }
    } else if (state === 'starting') {
      parts.push('finding the Python interpreter');
    }
    return parts.join(' · ');
  }

  dispose(): void {
    this.item.dispose();
  }
}
